// Markdown building blocks that user-written text cannot break out of (GitHub Flavored Markdown,
// which follows CommonMark). Comments, names and messages are shown as the plain text they are:
// nothing in them becomes a heading, list, table cell, HTML, link, math or code. That includes
// GFM's bare URL and e-mail links: escaped text inside them would show its backslashes, and a
// URL at the end of a line would swallow the line break after it.

// Characters with a meaning somewhere inline: emphasis, code, links, HTML and entities,
// strikethrough, tables, GitHub math, and the escape character itself.
const INLINE_SPECIAL = /[\\`*_[\]<>&|~$#!]/g;
const WORD = /[\p{L}\p{N}]/u;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** One line of plain text, escaped for a paragraph, a heading or a table cell (line breaks become
 * spaces). */
export function inlineText(text: string): string {
  return escapeLine(text.replace(/\r\n|[\r\n\t]/g, ' '));
}

/** Plain text with its line breaks kept (as hard breaks; blank lines separate paragraphs), to be
 * placed as a block, or inside a block quote with `quote`. */
export function blockText(text: string): string {
  const paragraphs = text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n(?:[ \t]*\n)*/)
    .map((p) =>
      p
        .split('\n')
        .map((l) => escapeLine(l.replace(/[ \t]+$/, '')))
        .filter((l) => l !== '')
        .join('\\\n'),
    )
    .filter((p) => p !== '');
  return paragraphs.join('\n\n');
}

/** Prefixes every line of a block with "> ". */
export function quote(block: string): string {
  return block
    .split('\n')
    .map((l) => (l === '' ? '>' : `> ${l}`))
    .join('\n');
}

/** A code span showing `text` verbatim. In a table cell, pipes must be escaped even inside code
 * (GitHub tables split cells on them first). */
export function code(text: string, inTable = false): string {
  if (text === '') return '` `';
  let t = text.replace(CONTROL, ' ').replace(/\r\n|[\r\n\t]/g, ' ');
  if (inTable) t = t.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  // CommonMark strips one space from each end when both are spaces; a backtick at an end would
  // merge with the fence. Padding keeps the content intact.
  const pad =
    t.startsWith('`') || t.endsWith('`') || (t.startsWith(' ') && t.endsWith(' ') && t.trim() !== '');
  return pad ? `${fence} ${t} ${fence}` : `${fence}${t}${fence}`;
}

/** A fenced code block holding `content` verbatim: the fence is longer than any run of backticks
 * inside, so no line can close it early. */
export function fenced(content: string, info = ''): string {
  const body = content.replace(/\r\n?/g, '\n');
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body}${body === '' || body.endsWith('\n') ? '' : '\n'}${fence}`;
}

/** A table with escaped cells (cells given already rendered: use inlineText or code(…, true)). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function escapeLine(line: string): string {
  // An underscore inside a word never starts emphasis: snake_case stays readable.
  let out = line
    .replace(CONTROL, ' ')
    .replace(INLINE_SPECIAL, (ch: string, i: number, s: string) =>
      ch === '_' && WORD.test(s[i - 1] ?? '') && WORD.test(s[i + 1] ?? '') ? ch : `\\${ch}`,
    );
  // Bare links: "http://", "www.", "user@host".
  out = out
    .replace(/([A-Za-z]):(?=\/\/)/g, '$1\\:')
    .replace(/\b(www)\./gi, '$1\\.')
    .replace(/@/g, '\\@');
  // What only means something at the start of a line: block quotes and headings are escaped
  // above; here lists, setext underlines and thematic breaks.
  out = out.replace(/^(\s*)([-+=])/, '$1\\$2').replace(/^(\s*\d+)([.)])/, '$1\\$2');
  // Leading whitespace would make an indented code block.
  return out.replace(/^[ \t]+/, (ws) => '&nbsp;'.repeat(ws.replace(/\t/g, '    ').length));
}
