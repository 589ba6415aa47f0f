/** Fixture handler that throws. */
export const handler = () => {
  throw new Error("kaboom");
};
