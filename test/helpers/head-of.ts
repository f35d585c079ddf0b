// A file as the SDK shows it, without its base: what tests about the live text compare.
export function headOf(file: { text: string; version: number } | undefined) {
  return file && { text: file.text, version: file.version };
}
