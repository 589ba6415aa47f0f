import assert from "node:assert/strict";
import { linkQuestion, linkUrl, openLink } from "./links.ts";

function recorder(answer: boolean) {
  const asked: string[] = [];
  const opened: string[] = [];
  return {
    asked,
    opened,
    confirm(message: string) {
      asked.push(message);
      return answer;
    },
    open(url: string) {
      opened.push(url);
    },
  };
}

Deno.test("openLink() asks with the full URL and opens it only when confirmed", () => {
  const url = "https://example.com/a/b?c=d#e";
  const yes = recorder(true);
  assert.equal(openLink(url, yes), true);
  assert.deepEqual(yes.asked, [linkQuestion(url)]);
  assert.ok(yes.asked[0].includes(url));
  assert.deepEqual(yes.opened, [url]);

  const no = recorder(false);
  assert.equal(openLink(url, no), false);
  assert.deepEqual(no.asked, [linkQuestion(url)]);
  assert.deepEqual(no.opened, []);
});

Deno.test("openLink() never offers anything but http and https", () => {
  for (
    const text of [
      "javascript:alert(1)",
      "JAVASCRIPT:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "vbscript:msgbox",
      "/relative/path",
      "not a url",
      "",
    ]
  ) {
    const env = recorder(true);
    assert.equal(openLink(text, env), false, text);
    assert.deepEqual(env.asked, [], text);
    assert.deepEqual(env.opened, [], text);
  }
});

Deno.test("linkUrl() shows the host the browser will reach", () => {
  assert.equal(
    linkUrl("https://exаmple.com/"), // Cyrillic "а"
    "https://xn--exmple-4nf.com/",
  );
  assert.equal(
    linkUrl("http://user:pw@evil.example/"),
    "http://user:pw@evil.example/",
  );
  assert.equal(linkUrl("  http://a.example  "), "http://a.example/");
});
