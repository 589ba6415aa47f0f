import type { ComponentChildren } from "preact";
import type { PageUser } from "./page_state.ts";

/** Props of {@link Header}. */
export interface HeaderProps {
  user: PageUser | null;
  /** Title of the current page, after the product name. */
  title?: string;
  /** Slot on the right, e.g. the ConnectionStatus island. */
  children?: ComponentChildren;
}

/** The top bar: product name, page title, connection slot, user and logout. */
export default function Header({ user, title, children }: HeaderProps) {
  return (
    <header class="topbar">
      <a class="brand" href="/">
        <span class="brand-mark" aria-hidden="true">◆</span> Flightdeck
      </a>
      {title && <span class="topbar-title">{title}</span>}
      <div class="topbar-spacer" />
      {children}
      {user?.role === "admin" && (
        <nav class="admin-links" aria-label="Administration">
          <a href="/admin/tokens" data-testid="nav-tokens">Tokens</a>{" "}
          <a href="/admin/audit" data-testid="nav-audit">Audit</a>
        </nav>
      )}
      {user && (
        <span class="user" data-testid="user">
          <span class="user-id" title="Signed in as">{user.id}</span>
          <span class={`role role-${user.role}`}>{user.role}</span>
          <form method="post" action="/logout" class="logout">
            <button type="submit" class="link">Log out</button>
          </form>
        </span>
      )}
    </header>
  );
}
