import Counter from "../islands/Counter.tsx";
import { Title } from "../components/Title.tsx";

/** Fixture home page with one island. */
export default function Home() {
  return (
    <div>
      <Title text="Home" />
      <h1>Home</h1>
      <Counter start={3} label="</script><!--x" />
    </div>
  );
}
