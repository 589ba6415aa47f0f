import type { Handlers } from "$fresh/server.ts";
import { SESSION_COOKIE } from "../lib/server/auth.ts";

/** `GET /logout`: clear the session cookie. */
export const handler: Handlers = {
  GET: () =>
    new Response(null, {
      status: 303,
      headers: {
        location: "/login",
        "set-cookie":
          `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
      },
    }),
};
