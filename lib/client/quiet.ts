/**
 * Quiet text in the terminal (command headers, notes, markers): the page's
 * muted gray (#8b949e) as a true color, 6.2:1 on the terminal's background.
 * Not SGR 2 (dim), which xterm draws at half opacity (under 4.5:1).
 *
 * @module
 */
export const QUIET = "\x1b[38;2;139;148;158m";
