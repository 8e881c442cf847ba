// Colour for what the commands print: on a terminal only, and never when NO_COLOR is set (https://no-color.org).
type Paint = (text: string) => string;

export interface Palette {
  ok: Paint;
  warn: Paint;
  bad: Paint;
  busy: Paint;
  dim: Paint;
  bold: Paint;
}

/** NO_COLOR set to anything but the empty string turns colour off, wherever it would go. */
export function colourWanted(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

export function palette(colour: boolean): Palette {
  const sgr = (code: string): Paint => (colour ? (text) => `\x1b[${code}m${text}\x1b[0m` : (text) => text);
  return { ok: sgr('32'), warn: sgr('33'), bad: sgr('31'), busy: sgr('36'), dim: sgr('2'), bold: sgr('1') };
}

export function colours(stream: { isTTY?: boolean }): Palette {
  return palette(colourWanted(stream));
}
