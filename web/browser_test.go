package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/lobbytest"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
)

// browser starts a headless Chromium for the test, or skips it where there is none.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("LOBBY_TEST_CHROMIUM")
	if path == "" {
		path, _ = exec.LookPath("chromium")
	}
	if path == "" {
		t.Skip("browser not tested: install Chromium (apt-get install -y chromium) or set LOBBY_TEST_CHROMIUM to its path (CI does)")
	}
	// The flags keep Chromium from reaching for the network at start, which a closed
	// machine refuses.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		// Third-party cookies withheld, as browsers do or will: the widget must not need them.
		chromedp.Flag("test-third-party-cookie-phaseout", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// run runs the steps, each within 20 s; on failure it shows where the page was.
// newTab opens a tab (or, with WithTargetID, attaches to a frame's target) for the
// rest of the test. Its first call runs without a timeout: a tab lives as long as the
// context of that call.
func newTab(t *testing.T, parent context.Context, opts ...chromedp.ContextOption) context.Context {
	t.Helper()
	tab, cancel := newTabUntil(t, parent, opts...)
	t.Cleanup(cancel)
	return tab
}

// newTabUntil is newTab for a tab the test closes itself, with cancel.
func newTabUntil(t *testing.T, parent context.Context, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(parent, opts...)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatal(err)
	}
	return tab, cancel
}

func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, step := range steps {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(sctx, step)
		cancel()
		if err != nil {
			where, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("step %d: %v\nat %s:\n%s", i+1, err, where, body)
		}
	}
}

// value runs an action that reads something from the page.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// code reads the newest sign-in code for email from the dev mailbox.
func code(t *testing.T, base, email string) string {
	t.Helper()
	resp, err := http.Get(base + "/dev/mailbox.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var box struct {
		Data []struct{ To, Subject string } // newest first
	}
	if err := json.NewDecoder(resp.Body).Decode(&box); err != nil {
		t.Fatal(err)
	}
	mails := box.Data
	for _, m := range mails {
		if c := codeRE.FindStringSubmatch(m.Subject); c != nil && m.To == email {
			return c[1]
		}
	}
	t.Fatalf("no code for %s in the mailbox: %+v", email, mails)
	return ""
}

// signIn signs email in through the pages, by keyboard alone, and ends on next.
func signIn(t *testing.T, ctx context.Context, base, email, next string) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(base+"/login?next="+url.QueryEscape(next)),
		chromedp.WaitVisible(`input[name=email]`), chromedp.SendKeys(`input[name=email]`, email+"\n"),
		chromedp.WaitVisible(`input[name=code]`))
	run(t, ctx, chromedp.SendKeys(`input[name=code]`, code(t, base, email)+"\n"), chromedp.WaitNotPresent(`input[name=code]`))
}

// agent answers the polling consultant's inbox as a self-hosted agent does, streaming
// each reply in pieces a while apart, so that a page can be seen to grow it.
func agent(t *testing.T, base, key string, pieces ...string) {
	do := func(method, path string, body any) (*http.Response, error) {
		var r *http.Request
		if body != nil {
			b, _ := json.Marshal(body)
			r, _ = http.NewRequest(method, base+path, strings.NewReader(string(b)))
			r.Header.Set("Content-Type", "application/json")
		} else {
			r, _ = http.NewRequest(method, base+path, nil)
		}
		r.Header.Set("Authorization", "Bearer "+key)
		return http.DefaultClient.Do(r)
	}
	go func() {
		for {
			resp, err := do("GET", "/api/v1/inbox?wait=5", nil)
			if err != nil {
				return // the server has gone: the test is over
			}
			var inbox struct {
				Data []struct {
					Data struct {
						ConversationID string `json:"conversation_id"`
						Message        struct {
							ID string `json:"id"`
						} `json:"message"`
					} `json:"data"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&inbox)
			resp.Body.Close()
			for _, ev := range inbox.Data {
				for i, p := range pieces {
					body := map[string]any{"conversation_id": ev.Data.ConversationID, "in_reply_to": ev.Data.Message.ID, "content": p,
						"partial": i < len(pieces)-1}
					if resp, err := do("POST", "/api/v1/reply", body); err == nil {
						resp.Body.Close()
					}
					time.Sleep(700 * time.Millisecond)
				}
			}
		}
	}()
}

// gate is a proxy in front of a Lobby server, which it is the public URL of; once
// told, it refuses every WebSocket upgrade, as some proxies and mobile networks do.
type gate struct {
	URL     string
	to      atomic.Pointer[httputil.ReverseProxy]
	refuses atomic.Bool
}

func newGate(t *testing.T) *gate {
	g := &gate{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.refuses.Load() && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "no WebSockets here", http.StatusForbidden)
			return
		}
		g.to.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// freeAddr returns a loopback address no one listens on, for a server to take.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// open sends the gate's requests to the server at target.
func (g *gate) open(target string) {
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0) // the server ends before the page's last long poll
	g.to.Store(p)
}

// TestChatInBrowser: in Chromium, through the real server, a person signs in by code
// with the keyboard, subscribes from the profile, opens the chat from the checkout,
// sends a message and watches the reply stream in — its text grows before it
// completes. Markup in a message shows as text; a message over 32 KiB is refused
// inline; a double-clicked Send sends one message; signed out in another tab, the
// chat goes to sign-in and back; a long history pages back as the person scrolls up;
// and behind a proxy that refuses WebSockets the chat still gets its reply, by
// long-polling, saying nothing alarming.
func TestChatInBrowser(t *testing.T) {
	ctx := browser(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn, _ := lobbytest.Store(t, b)
			front := newGate(t)
			addr := freeAddr(t)
			front.open("http://" + addr)
			srv := lobbytest.Serve(t, "--database", dsn, "--addr", addr, "--base-url", front.URL)
			bot := srv.CreateAgent("helper", "polling", "")
			agent(t, "http://"+addr, bot.Key, "Hello", " there,", " friend.")
			base := front.URL
			tab := newTab(t, ctx)

			signIn(t, tab, base, "person@example.com", "/consultants/helper")
			t.Log("signed in")
			look(t, tab, "consultant")
			run(t, tab, chromedp.Click(`//button[starts-with(normalize-space(.), "Subscribe to starter")]`),
				chromedp.WaitVisible(`//button[normalize-space(.)="Confirm subscription"]`),
				chromedp.Click(`//button[normalize-space(.)="Confirm subscription"]`),
				chromedp.WaitVisible(`//a[starts-with(., "Chat with")]`))
			look(t, tab, "checkout")
			run(t, tab, chromedp.Click(`//a[starts-with(., "Chat with")]`), chromedp.WaitVisible(`#message`))
			if label := value(t, tab, chromedp.Text(`label[for=message]`)); label != "Message" {
				t.Fatalf("the message box is labelled %q", label)
			}

			send := func(text string) {
				t.Helper()
				run(t, tab, chromedp.SetValue(`#message`, text), chromedp.Click(`//button[normalize-space(.)="Send"]`))
			}
			send("<b>hi</b> <script>alert(1)</script>")
			// The buyer's message shows at once, as text.
			run(t, tab, chromedp.WaitVisible(`li.msg.buyer .body`))
			if mine := value(t, tab, chromedp.Text(`li.msg.buyer .body`)); mine != "<b>hi</b> <script>alert(1)</script>" {
				t.Fatalf("the buyer's message shows %q", mine)
			}
			newestReply(t, tab, 1, "Hello there, friend.", true)
			t.Log("streamed over the WebSocket")

			// A message over 32 KiB is refused inline, with the contract's words; a
			// double-clicked Send sends one message.
			run(t, tab, chromedp.SetValue(`#message`, strings.Repeat("x", 32*1024+1)), chromedp.Click(`//button[normalize-space(.)="Send"]`))
			waitFor(t, tab, "the refusal shows", `document.getElementById("status").textContent.includes("32 KiB")`)
			buyers := `document.querySelectorAll("li.msg.buyer").length`
			if n := value(t, tab, chromedp.Evaluate[int](buyers)); n != 1 {
				t.Fatalf("%d buyer messages after the refused one, want 1", n)
			}
			run(t, tab, chromedp.SetValue(`#message`, "Twice?"),
				chromedp.Evaluate[chromedp.Void](`(() => { const b = [...document.querySelectorAll("#send button")].pop(); b.click(); b.click(); })()`))
			newestReply(t, tab, 2, "Hello there, friend.", true)
			if n := value(t, tab, chromedp.Evaluate[int](buyers)); n != 2 {
				t.Fatalf("%d buyer messages after a double click, want 2", n)
			}
			// By keyboard alone: Tab reaches the message box, which shows its focus,
			// and Enter sends.
			run(t, tab, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
			for tabs := 0; value(t, tab, chromedp.Evaluate[string](`document.activeElement.id`)) != "message"; tabs++ {
				if tabs == 40 {
					t.Fatal("40 presses of Tab did not reach the message box")
				}
				run(t, tab, chromedp.KeyEvent("\t"))
			}
			if focus := value(t, tab, chromedp.Evaluate[string](`(s => s.outlineStyle + " " + s.boxShadow)(getComputedStyle(document.activeElement))`)); focus == "none none" {
				t.Fatal("the focused message box looks as it does without focus")
			}
			run(t, tab, chromedp.KeyEvent("By keyboard\n"))
			newestReply(t, tab, 3, "Hello there, friend.", true)
			look(t, tab, "chat")

			// Signed out elsewhere mid-chat: the page goes to sign-in, and back.
			other, cancelOther := newTabUntil(t, tab)
			run(t, other, chromedp.Navigate(base+"/subscriptions"), chromedp.Click(`//button[normalize-space(.)="Sign out"]`),
				chromedp.WaitVisible(`//a[normalize-space(.)="Sign in"]`))
			cancelOther()
			waitFor(t, tab, "the chat sends to sign-in", `location.pathname === "/login" && location.search === "?next=%2Fchat%2Fhelper"`)
			run(t, tab, chromedp.WaitVisible(`input[name=email]`), chromedp.SendKeys(`input[name=email]`, "person@example.com\n"),
				chromedp.WaitVisible(`input[name=code]`))
			run(t, tab, chromedp.SendKeys(`input[name=code]`, code(t, base, "person@example.com")+"\n"), chromedp.WaitVisible(`#message`))
			if n := value(t, tab, chromedp.Evaluate[int](buyers)); n != 3 {
				t.Fatalf("back in the chat: %d buyer messages, want 3", n)
			}

			// A long history pages back as the person scrolls up.
			cnv := value(t, tab, chromedp.Evaluate[string](`document.getElementById("chat").dataset.conversation`))
			for i := range 60 {
				srv.Do("POST", "/api/v1/reply", bot.Key, map[string]any{"conversation_id": cnv, "content": fmt.Sprintf("note %d", i)}, nil, 201)
			}
			run(t, tab, chromedp.Reload(), chromedp.WaitVisible(`#earlier`))
			all := `document.querySelectorAll("li.msg").length`
			if n := value(t, tab, chromedp.Evaluate[int](all)); n != 50 {
				t.Fatalf("%d messages on a long chat's page, want the newest 50", n)
			}
			run(t, tab, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
			waitFor(t, tab, "all 66 messages show", all+` === 66 && !document.getElementById("earlier")`)
			if first := value(t, tab, chromedp.Evaluate[string](`document.querySelector("li.msg .body").textContent.trim()`)); first != "<b>hi</b> <script>alert(1)</script>" {
				t.Fatalf("the oldest message reads %q", first)
			}

			// Behind a proxy that refuses WebSockets: the page long-polls, quietly.
			front.refuses.Store(true)
			run(t, tab, chromedp.Navigate(base+"/chat/helper"), chromedp.WaitVisible(`#message`))
			before := value(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("li.msg.consultant").length`))
			send("Again, please")
			newestReply(t, tab, before+1, "Hello there, friend.", false) // the store keeps a reply's text when it ends
			if notice := value(t, tab, chromedp.Evaluate[string](`document.getElementById("status").textContent`)); notice != "" {
				t.Fatalf("the page says %q over long-polling", notice)
			}
			run(t, tab, chromedp.Navigate(base+"/subscriptions"), chromedp.WaitVisible(`progress`))
			look(t, tab, "subscriptions")
			run(t, tab, chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(`#slug`))
			look(t, tab, "dashboard")
		})
	}
}

// newestReply waits for the page's nth reply, the newest message, to show all of its
// text, complete; with grows, it must have shown part of it while it streamed. It
// fails at once if the page says something went wrong.
func newestReply(t *testing.T, ctx context.Context, nth int, final string, grows bool) {
	t.Helper()
	newest := fmt.Sprintf(`(() => { const ms = [...document.querySelectorAll("li.msg")], li = ms[ms.length-1];
		const notice = document.getElementById("status").textContent;
		if (notice) return ["notice", notice];
		return li && li.classList.contains("consultant") && document.querySelectorAll("li.msg.consultant").length === %d ?
			[li.dataset.status, li.querySelector(".body").textContent.trim()] : ["", ""]; })()`, nth)
	var partial string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := value(t, ctx, chromedp.Evaluate[[]string](newest))
		status, text := got[0], got[1]
		if status == "notice" {
			t.Fatalf("the page says %q", text)
		}
		if status == "streaming" && text != "" && text != final {
			partial = text
		}
		if status == "complete" && text == final {
			if grows && partial == "" {
				t.Fatalf("the reply %q appeared whole: it never showed as it streamed", final)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the newest reply never completed as %q (seen streaming: %q)", final, partial)
}

// look checks the page the tab shows, as audit does, and first saves it as
// name-desktop.png and name-phone.png (375 px wide) in the folder
// LOBBY_TEST_SCREENSHOTS names, when it names one.
func look(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	defer audit(t, ctx, name) // after the screenshots, whose page it resizes
	dir := os.Getenv("LOBBY_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, v := range []struct {
		suffix        string
		width, height int64
	}{{"desktop", 1280, 900}, {"phone", 375, 812}} {
		run(t, ctx, chromedp.EmulateViewport(v.width, v.height))
		png := value(t, ctx, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// audit fails the test for what WCAG 2.1 AA asks of a page and a browser can measure:
// text that contrasts with its background less than 4.5:1 (3:1 when large), a form
// control without an accessible name, and, on a 375 px wide viewport, a page wider
// than the screen.
func audit(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	problems := value(t, ctx, chromedp.Evaluate[[]string](auditScript))
	run(t, ctx, chromedp.EmulateViewport(375, 812))
	if w := value(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
		wide := value(t, ctx, chromedp.Evaluate[[]string](`[...document.body.querySelectorAll("*")].filter(el => el.getBoundingClientRect().right > 376 &&
			!el.parentElement.closest(".scroll")).map(el => "<" + el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") +
			"> ends at " + Math.round(el.getBoundingClientRect().right) + " px").slice(0, 8)`))
		problems = append(problems, fmt.Sprintf("on a 375 px phone the page is %d px wide: %s", w, strings.Join(wide, ", ")))
	}
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
	if len(problems) > 0 {
		t.Errorf("the %s page fails the audit:\n%s", name, strings.Join(problems, "\n"))
	}
}

// auditScript lists the page's contrast and naming problems; text hidden, for screen
// readers only, or drawn in a chart (whose figures are listed as text) is not measured.
const auditScript = `(() => {
  const problems = [];
  const rgba = c => { const m = c.match(/[\d.]+/g).map(Number); return m.length > 3 ? m : [...m, 1]; };
  const luminance = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!el.getClientRects().length || el.closest(".sr-only, svg, [hidden]") || el.disabled) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden") continue;
    const fg = luminance(rgba(st.color)), bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (parseInt(st.fontWeight) >= 700 && size >= 18.66);
    const need = large ? 3 : 4.5;
    if (ratio < need) problems.push("contrast " + ratio.toFixed(2) + " under " + need + ": <" + el.tagName.toLowerCase() +
      (el.className ? " class=" + el.className : "") + "> " + JSON.stringify(el.textContent.trim().slice(0, 40)) + " in " + st.color + " on " + background(el));
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button")) {
    if (!el.getClientRects().length) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title ||
      (el.tagName === "BUTTON" && el.textContent.trim());
    if (!named) problems.push("no accessible name: <" + el.tagName.toLowerCase() + " name=" + el.name + (el.id ? " id=" + el.id : "") + ">");
  }
  return problems;
})()`

// waitFor waits up to 20 s for the page's expression cond to be true.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
	}
	where, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("after 20 s, not yet: %s (at %s)", what, where)
}

// TestDashboardInBrowser: in Chromium, an owner lists a consultant from the
// dashboard's form, uploads a document to it and watches its ingestion reach ready,
// then edits its system prompt.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn, db := lobbytest.Store(t, b)
			srv := lobbytest.Serve(t, "--database", dsn)
			tab := newTab(t, ctx)
			signIn(t, tab, srv.URL, "owner@example.com", "/dashboard")
			run(t, tab, chromedp.WaitVisible(`#slug`), chromedp.SendKeys(`#slug`, "tax-helper"), chromedp.SendKeys(`#name`, "Tax Helper"),
				chromedp.SendKeys(`#tagline`, "Plain tax answers"), chromedp.SendKeys(`#description`, "Knows depreciation."),
				chromedp.SendKeys(`#system_prompt`, "You are a careful tax adviser."),
				chromedp.Click(`//button[normalize-space(.)="List consultant"]`), chromedp.WaitVisible(`#api-key`))
			if key := value(t, tab, chromedp.Text(`#api-key`)); !strings.HasPrefix(key, "cl_consultant_") {
				t.Fatalf("the key shown: %q", key)
			}
			run(t, tab, chromedp.Click(`//a[normalize-space(.)="Tax Helper"]`), chromedp.WaitVisible(`#file`))

			doc := filepath.Join(t.TempDir(), "depreciation.md")
			text := "# Depreciation\n\n" + strings.Repeat("A laptop bought for work is depreciated over three years, a third each year. ", 200)
			if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, tab, chromedp.SetUploadFiles(`#file`, []string{doc}), chromedp.Click(`//button[normalize-space(.)="Upload"]`))
			waitFor(t, tab, "the document is ready", `(() => { const tr = document.querySelector("#documents tbody tr[id]");
				return tr && tr.dataset.status === "ready" && tr.querySelector("progress").value === tr.querySelector("progress").max; })()`)
			if title := value(t, tab, chromedp.Text(`#documents tbody tr[id] td`)); !strings.Contains(title, "depreciation") {
				t.Fatalf("the document row reads %q", title)
			}
			// A month of buyers, so that the charts have something to show.
			sent := seedActivity(t, db, "tax-helper")
			run(t, tab, chromedp.Reload(), chromedp.WaitVisible(`#messages-chart-summary`))
			if says := value(t, tab, chromedp.Text(`#messages-chart-summary`)); !strings.HasPrefix(says, fmt.Sprintf("Buyers sent Tax Helper %d messages in the last 30 days", sent)) {
				t.Fatalf("the messages chart says %q; %d were sent", says, sent)
			}
			if bars := value(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("#messages-chart-title ~ g rect.ok").length`)); bars < 20 {
				t.Fatalf("%d days of answered messages drawn, want one a day with messages", bars)
			}
			look(t, tab, "owner-consultant")

			run(t, tab, chromedp.SetValue(`#system_prompt`, "You are a brief tax adviser."), chromedp.Click(`//button[normalize-space(.)="Save"]`),
				chromedp.WaitVisible(`//p[normalize-space(.)="Saved."]`))
			run(t, tab, chromedp.Reload(), chromedp.WaitVisible(`#system_prompt`))
			if prompt := value(t, tab, chromedp.Evaluate[string](`document.getElementById("system_prompt").value`)); prompt != "You are a brief tax adviser." {
				t.Fatalf("the saved prompt reads %q", prompt)
			}
			run(t, tab, chromedp.Click(`//a[normalize-space(.)="Conversations"]`), chromedp.WaitVisible(`//h1[starts-with(., "Conversations of")]`))
			look(t, tab, "owner-conversations")
			// A webhook consultant's owner reads its delivery log: one of three messages
			// its agent refused.
			var hits atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 2 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				w.Write([]byte(`{"reply": "done"}`))
			}))
			t.Cleanup(hook.Close)
			srv.CreateAgent("hooked", "webhook", hook.URL)
			buyer := srv.Subscribe("hooked", "hook-buyer@example.com")
			for range 3 {
				srv.Do("POST", "/api/v1/chat", buyer, map[string]any{"message": "are you there?", "wait_seconds": 0}, nil, 202)
			}
			signIn(t, tab, srv.URL, "owner-hooked@example.com", "/dashboard/hooked/deliveries")
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				run(t, tab, chromedp.Reload(), chromedp.WaitVisible(`#deliveries-chart-summary`))
				says := value(t, tab, chromedp.Text(`#deliveries-chart-summary`))
				if strings.Contains(says, "3 attempts: 2 succeeded and 1 failed") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 20 s the delivery chart says %q", says)
				}
			}
			look(t, tab, "deliveries")
			if hits.Load() < 3 {
				t.Fatalf("the agent had %d deliveries", hits.Load())
			}
			run(t, tab, chromedp.Navigate(srv.URL+"/dashboard/someone-elses"), chromedp.WaitVisible(`//h1[normalize-space(.)="Something went wrong"]`))
			look(t, tab, "not-found")
		})
	}
}

// seedActivity writes a month of buyers of the consultant slug into db, as if they had
// come over the last 30 days: a subscriber more every few days, messages each day, a
// reply in a few seconds and now and then a failed one. It returns how many messages
// it sent.
func seedActivity(t *testing.T, db *sqldb.DB, slug string) int {
	t.Helper()
	ctx := context.Background()
	svc := db.Services()
	start := time.Now().UTC().AddDate(0, 0, -29).Truncate(24 * time.Hour).Add(9 * time.Hour)
	at := start
	db.Now = func() time.Time { return at }
	c, err := svc.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	var subs []*lobby.Subscription
	sent := 0
	for day := range 29 {
		at = start.AddDate(0, 0, day)
		if day%3 == 0 {
			_, buyer := storetest.SignIn(t, svc.Auth, fmt.Sprintf("seed-%d@example.com", day))
			sub, _ := storetest.Subscribe(t, svc.Subscriptions, buyer.ID, c.ID, "starter")
			subs = append(subs, sub)
		}
		for i := range 2 + day%5 + len(subs) {
			at = at.Add(17 * time.Minute)
			ex, err := svc.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subs[i%len(subs)].ID, Content: "a question"})
			if err != nil {
				t.Fatal(err)
			}
			sent++
			at = at.Add(time.Duration(800+(day*37+i*211)%4000) * time.Millisecond)
			status := lobby.MessageComplete
			if (day+i)%11 == 0 {
				status = lobby.MessageFailed
			}
			if _, err := svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "an answer", Status: status, Error: "the model failed"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sent
}

// TestWidgetInBrowser: a page of another site embeds the widget; in its frame, with
// third-party cookies withheld, a person signs in by code, subscribes and chats, the
// reply streaming in.
func TestWidgetInBrowser(t *testing.T) {
	ctx := browser(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn, _ := lobbytest.Store(t, b)
			srv := lobbytest.Serve(t, "--database", dsn)
			bot := srv.CreateAgent("helper", "polling", "")
			agent(t, srv.URL, bot.Key, "Hello", " from", " the widget.")
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><html lang="en"><title>A shop</title><h1>A shop on another site</h1>
<script src="%s/widget.js" data-consultant="helper" async></script>`, srv.URL)
			}))
			defer shop.Close()
			// localhost and 127.0.0.1 are two sites: the frame is a third party here.
			shopURL := shop.URL
			if !strings.Contains(srv.URL, "localhost") {
				shopURL = strings.Replace(shop.URL, "127.0.0.1", "localhost", 1)
			}
			tab := newTab(t, ctx)
			run(t, tab, chromedp.Navigate(shopURL), chromedp.WaitVisible(`button[data-lobby-widget]`), chromedp.Click(`button[data-lobby-widget]`))
			var frameID target.ID
			for deadline := time.Now().Add(20 * time.Second); frameID == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				infos, err := chromedp.Targets(tab)
				if err != nil {
					t.Fatal(err)
				}
				for _, info := range infos {
					if info.Type == "iframe" && strings.HasPrefix(info.URL, srv.URL+"/widget/helper") {
						frameID = info.TargetID
					}
				}
			}
			if frameID == "" {
				infos, _ := chromedp.Targets(tab)
				for _, info := range infos {
					t.Logf("target %s %s", info.Type, info.URL)
				}
				html, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
				t.Fatalf("the widget's frame never opened:\n%s", html)
			}
			frame := newTab(t, tab, chromedp.WithTargetID(frameID))
			run(t, frame, chromedp.WaitVisible(`input[name=email]`), chromedp.SendKeys(`input[name=email]`, "visitor@example.com\n"),
				chromedp.WaitVisible(`input[name=code]`))
			run(t, frame, chromedp.SendKeys(`input[name=code]`, code(t, srv.URL, "visitor@example.com")+"\n"),
				chromedp.WaitVisible(`//button[normalize-space(.)="Subscribe to starter"]`),
				chromedp.Click(`//button[normalize-space(.)="Subscribe to starter"]`),
				chromedp.WaitVisible(`//button[normalize-space(.)="Confirm subscription"]`),
				chromedp.Click(`//button[normalize-space(.)="Confirm subscription"]`),
				chromedp.WaitVisible(`#message`))
			look(t, tab, "widget")
			run(t, frame, chromedp.SetValue(`#message`, "Hi from the shop"), chromedp.Click(`//button[normalize-space(.)="Send"]`))
			newestReply(t, frame, 1, "Hello from the widget.", true)
		})
	}
}

// TestNewUserByClicking: what the README promises a new user, by clicks and typing
// alone from the printed URL: an owner signs in, lists a managed consultant, gives it
// a document and sees it ready; a second person signs in, finds it in the catalog,
// subscribes and chats, the reply quoting the document.
func TestNewUserByClicking(t *testing.T) {
	ctx := browser(t)
	dsn, _ := lobbytest.Store(t, storetest.SQLite) // the embedded default, on a database of its own
	srv := lobbytest.Serve(t, "--database", dsn)
	tab := newTab(t, ctx)
	signInByClicks := func(email string) {
		t.Helper()
		run(t, tab, chromedp.Navigate(srv.URL), chromedp.WaitVisible(`//a[normalize-space(.)="Sign in"]`))
		look(t, tab, "home")
		run(t, tab, chromedp.Click(`//a[normalize-space(.)="Sign in"]`), chromedp.WaitVisible(`input[name=email]`))
		look(t, tab, "login")
		run(t, tab, chromedp.SendKeys(`input[name=email]`, email), chromedp.Click(`//button[normalize-space(.)="Send code"]`), chromedp.WaitVisible(`input[name=code]`))
		look(t, tab, "code")
		run(t, tab, chromedp.SendKeys(`input[name=code]`, code(t, srv.URL, email)), chromedp.Click(`//button[normalize-space(.)="Sign in"]`),
			chromedp.WaitVisible(`//button[normalize-space(.)="Sign out"]`))
	}
	signInByClicks("owner@example.com")
	run(t, tab, chromedp.Click(`//a[normalize-space(.)="Dashboard"]`), chromedp.WaitVisible(`#slug`),
		chromedp.SendKeys(`#slug`, "garden"), chromedp.SendKeys(`#name`, "Garden Helper"), chromedp.SendKeys(`#tagline`, "Plants, plainly"),
		chromedp.SendKeys(`#description`, "Answers about vegetable gardens."), chromedp.SendKeys(`#system_prompt`, "You are a gardener."),
		chromedp.Click(`//button[normalize-space(.)="List consultant"]`), chromedp.WaitVisible(`#api-key`),
		chromedp.Click(`//a[normalize-space(.)="Garden Helper"]`), chromedp.WaitVisible(`#file`))
	doc := filepath.Join(t.TempDir(), "tomatoes.md")
	if err := os.WriteFile(doc, []byte("# Tomatoes\n\nWater tomatoes deeply twice a week, at the roots, in the morning.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, tab, chromedp.SetUploadFiles(`#file`, []string{doc}), chromedp.Click(`//button[normalize-space(.)="Upload"]`))
	waitFor(t, tab, "the document is ready", `(() => { const tr = document.querySelector("#documents tbody tr[id]"); return tr && tr.dataset.status === "ready"; })()`)
	run(t, tab, chromedp.Click(`//button[normalize-space(.)="Sign out"]`), chromedp.WaitVisible(`//a[normalize-space(.)="Sign in"]`))

	signInByClicks("gardener@example.com")
	run(t, tab, chromedp.SendKeys(`input[aria-label="Search consultants"]`, "vegetable"), chromedp.Click(`//button[normalize-space(.)="Search"]`))
	// The catalog listed it before the search too: click it on the results, not on the page they replace.
	waitFor(t, tab, "the search's results", `location.search.includes("q=vegetable") && document.readyState === "complete"`)
	run(t, tab, chromedp.Click(`//a[normalize-space(.)="Garden Helper"]`),
		chromedp.Click(`//button[normalize-space(.)="Subscribe to starter"]`),
		chromedp.Click(`//button[normalize-space(.)="Confirm subscription"]`),
		chromedp.Click(`//a[starts-with(., "Chat with")]`), chromedp.WaitVisible(`#message`),
		chromedp.SendKeys(`#message`, "How often should I water tomatoes?"), chromedp.Click(`//button[normalize-space(.)="Send"]`))
	waitFor(t, tab, "the reply quotes the document", `(() => { const li = document.querySelector("li.msg.consultant");
		return li && li.dataset.status === "complete" && li.textContent.includes("twice a week"); })()`)
}
