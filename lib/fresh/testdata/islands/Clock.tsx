/** A fixture island that no page renders. */
export default function Clock(props: { now: string }) {
  return <time>{props.now}</time>;
}
