// Build-only fixture: Deno cannot import CSS on the server, so no route
// renders this island; build_test.ts only bundles it.
import "./Styled.css";

/** A fixture island that imports CSS. */
export default function Styled() {
  return <b class="styled">styled</b>;
}
