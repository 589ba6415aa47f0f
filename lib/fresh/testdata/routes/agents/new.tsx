/** Fixture static page that wins over `[id]`. */
export default function NewAgent() {
  return <p>new agent</p>;
}
