// Small DOM helpers: elements from attributes and children, and a stable colour per user.
type Attributes = Record<string, string | boolean | undefined>;

/** An element with attributes (className, htmlFor, id, type, aria-*, …) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'className') e.className = String(value);
    else if (name === 'htmlFor') e.setAttribute('for', String(value));
    else e.setAttribute(name, value === true ? '' : value);
  }
  e.append(...children);
  return e;
}

const COLORS = ['#d7263d', '#1b998b', '#2e86ab', '#f46036', '#7b2cbf', '#3d9970', '#c2185b', '#8d6e00'];

/** A colour for a user, the same on every page. */
export function colorOf(userId: string): string {
  let h = 0;
  for (let i = 0; i < userId.length; i++) h = (h * 31 + userId.charCodeAt(i)) >>> 0;
  return COLORS[h % COLORS.length]!;
}
