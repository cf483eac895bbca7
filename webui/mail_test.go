package webui

import (
	"bufio"
	"bytes"
	"context"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

func TestComposeDomainLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("mail", testDom, domPW)
	resp, _ := c.get("/mail")
	if resp.Header.Get("Location") != "/mail/compose" {
		t.Fatalf("domain login home: %s", resp.Header.Get("Location"))
	}
	resp, _ = c.post("/mail/compose", url.Values{"from": {"Orders@doe.test"}, "to": {"John <john@doe.test>"}, "subject": {"Ünïcode order"}, "body": {"line 1\nline 2"}})
	wantStatus(t, "send as anything@domain", resp, http.StatusSeeOther)
	inbox := e.mailbox(testUser, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "From: <orders@doe.test>") || !strings.Contains(inbox[0], "line 1\r\nline 2") {
		t.Fatalf("inbox: %q", inbox)
	}
	if !strings.Contains(inbox[0], "Subject: =?utf-8?") {
		t.Fatalf("subject not encoded: %q", inbox[0])
	}
	for _, from := range []string{"x@other.example", "x@sub.doe.test", "doe.test", "x@doe.test@other.example"} {
		resp, body := c.post("/mail/compose", url.Values{"from": {from}, "to": {testUser}, "subject": {"no"}, "body": {"no"}})
		wantStatus(t, "send as "+from, resp, http.StatusForbidden)
		if !strings.Contains(body, "may send as any address @doe.test") {
			t.Fatalf("refusal for %s does not explain the rule", from)
		}
	}
	if n := len(e.mailbox(testUser, "INBOX")); n != 1 {
		t.Fatalf("refused sends stored mail: %d", n)
	}
}

func TestComposeBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("mail", testUser, userPW)
	cases := []struct {
		name string
		form url.Values
		want int
	}{
		{"CRLF in subject", url.Values{"to": {testUser}, "subject": {"hi\r\nBcc: victim@remote.example"}}, 400},
		{"LF in to", url.Values{"to": {testUser + "\nBcc: victim@remote.example"}}, 400},
		{"CRLF in cc", url.Values{"to": {testUser}, "cc": {"a@b.example\r\nX-Evil: 1"}}, 400},
		{"no recipients", url.Values{"subject": {"x"}}, 400},
		{"bad address", url.Values{"to": {"not an address"}}, 400},
		{"relay trick", url.Values{"to": {"u%other.example@doe.test"}}, 400},
		{"unknown local user", url.Values{"to": {"nobody@doe.test"}}, 400},
		{"too many", url.Values{"to": {strings.Repeat("a@b.example,", 101)}}, 400},
		{"user sending as domain colleague", url.Values{"from": {"boss@doe.test"}, "to": {testUser}}, 403}, // refused, never rewritten
		{"no From: the user's own address", url.Values{"to": {testUser}}, 303},
	}
	for _, tc := range cases {
		resp, _ := c.post("/mail/compose", tc.form)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	// Only the last case sent, and as the user itself.
	inbox := e.mailbox(testUser, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "From: <john@doe.test>") || strings.Contains(inbox[0], "boss@") {
		t.Fatalf("inbox: %q", inbox)
	}
	q, _ := e.st.ListQueue()
	if len(q) != 0 {
		t.Fatalf("refused compose queued mail: %+v", q)
	}
	// The user's copy went to Sent.
	if sent := e.mailbox(testUser, "Sent"); len(sent) != 1 {
		t.Fatalf("Sent has %d", len(sent))
	}
}

func TestComposeWebmailSwitchOff(t *testing.T) {
	e := newEnv(t)
	must(t, e.st.SetDomainSwitch(testDom, "webmail", false))
	c := e.client()
	c.login("mail", testDom, domPW)
	resp, body := c.post("/mail/compose", url.Values{"from": {"a@doe.test"}, "to": {testUser}})
	wantStatus(t, "webmail off", resp, http.StatusForbidden)
	if !strings.Contains(body, "Webmail sending is turned off") {
		t.Fatal("no explanation")
	}
	if len(e.mailbox(testUser, "INBOX")) != 0 {
		t.Fatal("sent with the switch off")
	}
}

func TestComposeAttachment(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("mail", testUser, userPW)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", c.csrf)
	mw.WriteField("to", testUser)
	mw.WriteField("subject", "with file")
	mw.WriteField("body", "see attached")
	fw, _ := mw.CreateFormFile("attachment", `..\evil"name.html`)
	fw.Write([]byte("<script>alert(1)</script>"))
	mw.Close()
	req, _ := http.NewRequest("POST", e.ts.URL+"/mail/compose", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, _ := c.do(req)
	wantStatus(t, "send with attachment", resp, http.StatusSeeOther)
	msgs, _ := e.st.ListMessages(testUser, "INBOX")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	_, body := c.get("/mail/msg?folder=INBOX&uid=1")
	if !strings.Contains(body, "see attached") || !strings.Contains(body, "evil") {
		t.Fatalf("message page: %s", body)
	}
	resp, att := c.get("/mail/msg/part?folder=INBOX&uid=1&part=1")
	wantStatus(t, "attachment", resp, 200)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("attachment served as %q", ct)
	}
	if att != "<script>alert(1)</script>" {
		t.Fatalf("attachment body %q", att)
	}
}

const evilHTML = "From: Mallory <m@evil.example>\r\nTo: john@doe.test\r\n" +
	"Subject: \"><img src=x onerror=alert(1)>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<html><head><base href=\"https://evil.example/\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">" +
	"<style>@import url(https://evil.example/x.css);</style></head><body>" +
	"<p>Hello <b>John</b></p><script>alert(1)</script><img src=\"https://evil.example/track.png\">" +
	"<img src=x onerror=\"alert(2)\"><svg onload=alert(3)></svg><a href=\"javascript:alert(4)\">click</a>" +
	"<div style=\"background:url(https://evil.example/bg.png)\">bg</div><form action=\"https://evil.example/\"><input name=p></form>" +
	"</body></html>\r\n"

func TestReadHTMLMailIsSafe(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.Append(testUser, "INBOX", []byte(evilHTML), nil, time.Now())
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	_, list := c.get("/mail/folder?name=INBOX")
	if strings.Contains(list, "<img src=x") || !strings.Contains(list, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("list does not escape the subject")
	}
	resp, page := c.get("/mail/msg?folder=INBOX&uid=1")
	wantStatus(t, "read", resp, 200)
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.Contains(page, "track.png") {
		t.Fatal("mail HTML leaked into the page itself")
	}
	if !strings.Contains(page, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) || strings.Contains(page, "allow-scripts") || strings.Contains(page, "allow-same-origin") {
		t.Fatal("iframe sandbox wrong")
	}
	if !strings.Contains(page, "Remote images and content are blocked") {
		t.Fatal("no remote-content notice")
	}
	resp, doc := c.get("/mail/msg/body?folder=INBOX&uid=1")
	wantStatus(t, "body", resp, 200)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != bodyCSP {
		t.Fatalf("body CSP %q", csp)
	}
	low := strings.ToLower(doc)
	for _, bad := range []string{"<script", "onerror", "onload", "javascript:", "evil.example/track", "@import", "url(", "<form", "http-equiv", `<base href`} {
		if strings.Contains(low, bad) {
			t.Errorf("sanitized body still has %q", bad)
		}
	}
	if !strings.Contains(doc, "Hello <b>John</b>") {
		t.Fatalf("sanitizer lost the content: %s", doc)
	}
	// Remote images only when asked, with a CSP that allows them.
	resp, doc = c.get("/mail/msg/body?folder=INBOX&uid=1&images=1")
	if !strings.Contains(doc, "https://evil.example/track.png") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "img-src data: https:") {
		t.Fatal("show-images did not allow the remote image")
	}
	if strings.Contains(strings.ToLower(doc), "<script") {
		t.Fatal("show-images let script through")
	}
}

func TestReadListPaginationSearch(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 120; i++ {
		subj := "note " + itoa(i)
		if i == 77 {
			subj = "the needle"
		}
		_, err := e.st.Append(testUser, "INBOX", []byte("From: a@remote.example\r\nSubject: "+subj+"\r\n\r\nbody\r\n"), nil, time.Now())
		must(t, err)
	}
	c := e.client()
	c.login("mail", testUser, userPW)
	_, p1 := c.get("/mail/folder?name=INBOX")
	if !strings.Contains(p1, "note 120") || strings.Contains(p1, ">note 70<") || !strings.Contains(p1, "page 1 of 3") {
		t.Fatal("page 1 wrong")
	}
	_, p3 := c.get("/mail/folder?name=INBOX&page=3")
	if !strings.Contains(p3, ">note 1<") || strings.Contains(p3, ">note 120<") {
		t.Fatal("page 3 wrong")
	}
	_, s := c.get("/mail/folder?name=INBOX&q=NEEDLE")
	if !strings.Contains(s, "the needle") || strings.Contains(s, "note 1<") || !strings.Contains(s, "1 message(s) matching") {
		t.Fatal("search wrong")
	}
	_, err := e.st.Append(testUser, "INBOX", []byte("From: a@remote.example\r\nSubject: =?utf-8?q?Caf=C3=A9_MENU?=\r\n\r\nbody\r\n"), nil, time.Now())
	must(t, err)
	for _, q := range []string{"caf%C3%A9", "menu"} {
		if _, s := c.get("/mail/folder?name=INBOX&q=" + q); !strings.Contains(s, "Café MENU") {
			t.Errorf("search %s misses the encoded subject", q)
		}
	}
	resp, _ := c.get("/mail/folder?name=Nope")
	wantStatus(t, "unknown folder", resp, 404)
	resp, _ = c.get("/mail/msg?folder=INBOX&uid=999")
	wantStatus(t, "unknown uid", resp, 404)
	resp, _ = c.get("/mail/msg?folder=INBOX&uid=-1")
	wantStatus(t, "bad uid", resp, 404)
}

func TestReplyPrefill(t *testing.T) {
	e := newEnv(t)
	raw := "From: Ann <ann@remote.example>\r\nTo: john@doe.test, bob@remote.example\r\nCc: carol@remote.example\r\n" +
		"Subject: plans\r\nMessage-ID: <abc@remote.example>\r\n\r\nshall we?\r\n"
	_, err := e.st.Append(testUser, "INBOX", []byte(raw), nil, time.Now())
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	_, body := c.get("/mail/compose?mode=all&folder=INBOX&uid=1")
	for _, want := range []string{`value="ann@remote.example"`, "bob@remote.example, carol@remote.example", `value="Re: plans"`, "&gt; shall we?", `value="abc@remote.example"`} {
		if !strings.Contains(body, want) {
			t.Errorf("reply-all form lacks %q", want)
		}
	}
	resp, _ := c.post("/mail/compose", url.Values{"to": {"ann@remote.example"}, "subject": {"Re: plans"}, "body": {"yes"},
		"in_reply_to": {"abc@remote.example"}, "references": {"<abc@remote.example>"}, "reply_folder": {"INBOX"}, "reply_uid": {"1"}})
	wantStatus(t, "send reply", resp, http.StatusSeeOther)
	if m, _, _ := e.st.GetMessage(testUser, "INBOX", 1); !m.HasFlag(`\Answered`) {
		t.Error("the answered message is not flagged \\Answered")
	}
	sent := e.mailbox(testUser, "Sent")
	if len(sent) != 1 || !strings.Contains(sent[0], "In-Reply-To: <abc@remote.example>") {
		t.Errorf("reply headers: %q", sent)
	}
	_, body = c.get("/mail/compose?mode=forward&folder=INBOX&uid=1")
	if !strings.Contains(body, `value="Fwd: plans"`) || !strings.Contains(body, "Forwarded message") {
		t.Error("forward form wrong")
	}
}

func TestMailEventsStream(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("mail", testUser, userPW)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/mail/events", nil)
	resp, err := c.c.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	line, _ := br.ReadString('\n') // "retry:" arrives once subscribed
	if !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q", line)
	}
	_, err = e.st.Append(testUser, "INBOX", []byte("Subject: live\r\n\r\nx\r\n"), nil, time.Now())
	must(t, err)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			if !strings.Contains(line, `"kind":"new"`) || !strings.Contains(line, `"mailbox":"INBOX"`) {
				t.Fatalf("event %q", line)
			}
			return
		}
	}
}

func TestMailPasswordChange(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("mail", testUser, userPW)
	resp, _ := c.post("/mail/password", url.Values{"current": {userPW}, "password": {"weak"}, "confirm": {"weak"}})
	wantStatus(t, "weak", resp, http.StatusSeeOther)
	if _, err := e.st.Authenticate(testUser, userPW); err != nil {
		t.Fatal("weak password accepted")
	}
	resp, _ = c.post("/mail/password", url.Values{"current": {userPW}, "password": {"Brand-New-Pass-808"}, "confirm": {"Brand-New-Pass-808"}})
	wantStatus(t, "change", resp, http.StatusSeeOther)
	if _, err := e.st.Authenticate(testUser, "Brand-New-Pass-808"); err != nil {
		t.Fatal("new password does not work")
	}
	if resp, _ := c.get("/mail/folder?name=INBOX"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("session survived the password change")
	}
	_ = store.KindUser
}

func TestMessageOps(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 2; i++ {
		_, err := e.st.Append(testUser, "INBOX", []byte("From: a@remote.example\r\nSubject: op\r\n\r\nx\r\n"), nil, time.Now())
		must(t, err)
	}
	c := e.client()
	c.login("mail", testUser, userPW)
	flags := func(uid uint32) []string {
		m, _, err := e.st.GetMessage(testUser, "INBOX", uid)
		must(t, err)
		return m.Flags
	}
	c.get("/mail/msg?folder=INBOX&uid=1") // reading marks it read
	if !strings.Contains(strings.Join(flags(1), " "), `\Seen`) {
		t.Fatal("reading did not mark read")
	}
	c.post("/mail/msg/flags", url.Values{"folder": {"INBOX"}, "uid": {"1"}, "action": {"unread"}})
	c.post("/mail/msg/flags", url.Values{"folder": {"INBOX"}, "uid": {"1"}, "action": {"flag"}})
	if f := strings.Join(flags(1), " "); strings.Contains(f, `\Seen`) || !strings.Contains(f, `\Flagged`) {
		t.Fatalf("flags after unread+flag: %s", f)
	}
	resp, _ := c.post("/mail/msg/flags", url.Values{"folder": {"INBOX"}, "uid": {"1"}, "action": {"\\Deleted"}})
	wantStatus(t, "unknown action", resp, 400)
	resp, _ = c.post("/mail/msg/move", url.Values{"folder": {"INBOX"}, "uid": {"1"}, "dest": {"Archive"}})
	wantStatus(t, "move", resp, http.StatusSeeOther)
	if len(e.mailbox(testUser, "Archive")) != 1 || len(e.mailbox(testUser, "INBOX")) != 1 {
		t.Fatal("move did not move")
	}
	c.post("/mail/msg/move", url.Values{"folder": {"INBOX"}, "uid": {"2"}, "dest": {"../../etc"}})
	if len(e.mailbox(testUser, "INBOX")) != 1 {
		t.Fatal("moved to a folder that does not exist")
	}
	c.post("/mail/msg/delete", url.Values{"folder": {"INBOX"}, "uid": {"2"}})
	if len(e.mailbox(testUser, "Trash")) != 1 || len(e.mailbox(testUser, "INBOX")) != 0 {
		t.Fatal("delete did not move to Trash")
	}
	c.post("/mail/msg/delete", url.Values{"folder": {"Trash"}, "uid": {"1"}})
	if len(e.mailbox(testUser, "Trash")) != 0 {
		t.Fatal("delete in Trash did not expunge")
	}
	resp, _ = c.post("/mail/msg/delete", url.Values{"folder": {"INBOX"}, "uid": {"99"}})
	wantStatus(t, "delete missing", resp, 404)
	// Another user's mail is out of reach: the session's address is the only mailbox.
	_, err := e.st.AddUser("eve@doe.test", userPW)
	must(t, err)
	eve := e.client()
	eve.login("mail", "eve@doe.test", userPW)
	resp, _ = eve.get("/mail/msg?folder=Archive&uid=1")
	wantStatus(t, "other user's message", resp, 404)
}

func TestAliasesFromAdmin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("admin", "admin", adminPW)
	resp, _ := c.post("/admin/domains/doe.test/aliases", url.Values{"local": {"sales"}, "targets": {"john@doe.test, x@remote.example"}, "send_as": {testUser}})
	wantStatus(t, "add alias", resp, http.StatusSeeOther)
	as, _ := e.st.ListAliases(testDom)
	if len(as) != 1 || as[0].Address != "sales@doe.test" || len(as[0].Targets) != 2 {
		t.Fatalf("aliases %+v", as)
	}
	if !e.st.MaySendAs(store.Principal{Kind: store.KindUser, Domain: testDom, Address: testUser}, "sales@doe.test") {
		t.Fatal("send-as not granted")
	}
	_, body := c.get("/admin/domains/doe.test/users")
	if !strings.Contains(body, "sales@doe.test") {
		t.Fatal("alias not listed")
	}
	// Send-as for a user of another domain is refused.
	c.post("/admin/domains/doe.test/aliases", url.Values{"local": {"info"}, "targets": {"john@doe.test"}, "send_as": {"x@other.example"}})
	c.post("/admin/domains/doe.test/aliases", url.Values{"local": {"john"}, "targets": {"x@remote.example"}}) // a user's address
	if as, _ := e.st.ListAliases(testDom); len(as) != 1 {
		t.Fatalf("bad aliases accepted: %+v", as)
	}
	c.post("/admin/domains/doe.test/aliases/remove", url.Values{"address": {"sales@doe.test"}})
	if as, _ := e.st.ListAliases(testDom); len(as) != 0 {
		t.Fatal("alias not removed")
	}
}

func TestComposeAsAllowedAlias(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.AddAlias("sales@doe.test", []string{testUser}, testUser)
	must(t, err)
	_, err = e.st.AddAlias("info@doe.test", []string{testUser}, "")
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	_, body := c.get("/mail/compose")
	if !strings.Contains(body, `<option value="sales@doe.test"`) || strings.Contains(body, `value="info@doe.test"`) {
		t.Fatal("From choices should offer exactly the aliases the user may send as")
	}
	c.post("/mail/compose", url.Values{"from": {"sales@doe.test"}, "to": {testUser}, "subject": {"as alias"}})
	resp, _ := c.post("/mail/compose", url.Values{"from": {"info@doe.test"}, "to": {testUser}, "subject": {"not allowed"}})
	wantStatus(t, "send as an alias not granted", resp, http.StatusForbidden)
	inbox := e.mailbox(testUser, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "From: <sales@doe.test>") {
		t.Fatalf("inbox: %q", inbox)
	}
}

// TestComposeRefusesNotRewrites: webmail refuses a From the login may not
// use, with SMTP's words (store.SendAsError, as in the 553), never sending
// it as another address; a display name is fine; a malformed address is
// refused saying what is wrong with it.
func TestComposeRefusesNotRewrites(t *testing.T) {
	e := newEnv(t)
	user := e.client()
	user.login("mail", testUser, userPW)
	resp, body := user.post("/mail/compose", url.Values{"from": {"jane@doe.test"}, "to": {testUser}, "subject": {"as jane"}, "body": {"x"}})
	wantStatus(t, "user login as another user", resp, http.StatusForbidden)
	who := store.Principal{Kind: store.KindUser, Domain: testDom, Address: testUser}
	if want := html.EscapeString(store.SendAsError(who, "jane@doe.test")); !strings.Contains(body, want) {
		t.Fatalf("refusal does not say %q", want)
	}
	if n := len(e.mailbox(testUser, "INBOX")); n != 0 {
		t.Fatalf("the refused message went out anyway (%d)", n)
	}

	dom := e.client()
	dom.login("mail", testDom, domPW)
	resp, _ = dom.post("/mail/compose", url.Values{"from": {"Sales <sales@doe.test>"}, "to": {testUser}, "subject": {"named"}, "body": {"x"}})
	wantStatus(t, "display name", resp, http.StatusSeeOther)
	inbox := e.mailbox(testUser, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], `From: "Sales" <sales@doe.test>`) && !strings.Contains(inbox[0], "From: Sales <sales@doe.test>") {
		t.Fatalf("inbox: %q", inbox)
	}
	for from, why := range map[string]string{
		"sales%other.example@doe.test": "routing characters are not allowed in an address",
		"Sales <a!b@doe.test>":         "routing characters are not allowed in an address",
		"x@doe.test.":                  "the domain may not end with a dot",
		"x@[127.0.0.1]":                "address literals",
		"Sales <sales@other.example>":  "may send as any address @doe.test",
	} {
		resp, body := dom.post("/mail/compose", url.Values{"from": {from}, "to": {testUser}, "subject": {"no"}, "body": {"x"}})
		wantStatus(t, from, resp, http.StatusForbidden)
		if !strings.Contains(body, html.EscapeString(why)) {
			t.Errorf("refusal of %q does not say %q", from, why)
		}
	}
	if n := len(e.mailbox(testUser, "INBOX")); n != 1 {
		t.Fatalf("refused sends stored mail: %d", n)
	}
}

func TestEvilFolderAndFileNamesEscaped(t *testing.T) {
	e := newEnv(t)
	const evil = `"><img src=x onerror=alert(1)>`
	if _, err := e.st.CreateMailbox(testUser, "x"+evil, ""); err != nil {
		t.Logf("store refused the folder name (fine): %v", err)
	}
	raw := "From: a@remote.example\r\nSubject: att\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"" + strings.ReplaceAll(evil, `"`, `'`) + ".html\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n"
	_, err := e.st.Append(testUser, "INBOX", []byte(raw), nil, time.Now())
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	for _, path := range []string{"/mail/folder?name=INBOX", "/mail/msg?folder=INBOX&uid=1"} {
		_, body := c.get(path)
		if strings.Contains(body, "<img src=x") {
			t.Fatalf("%s: unescaped name", path)
		}
	}
	resp, b := c.get("/mail/msg/part?folder=INBOX&uid=1&part=1")
	if resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(b, "<script>") {
		t.Fatalf("HTML attachment served inline: %v", resp.Header)
	}
}

func TestReadingCrossSiteDoesNotMarkRead(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.Append(testUser, "INBOX", []byte("Subject: s\r\n\r\nx\r\n"), nil, time.Now())
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	c.raw("GET", "/mail/msg?folder=INBOX&uid=1", nil, "Sec-Fetch-Site", "cross-site")
	m, _, _ := e.st.GetMessage(testUser, "INBOX", 1)
	if m.HasFlag(`\Seen`) {
		t.Fatal("a cross-site GET changed state")
	}
	c.raw("GET", "/mail/msg?folder=INBOX&uid=1", nil, "Sec-Fetch-Site", "same-origin")
	m, _, _ = e.st.GetMessage(testUser, "INBOX", 1)
	if !m.HasFlag(`\Seen`) {
		t.Fatal("opening a message did not mark it read")
	}
}

func TestComposeBccHidden(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.AddUser("secret@doe.test", userPW)
	must(t, err)
	c := e.client()
	c.login("mail", testDom, domPW)
	resp, _ := c.post("/mail/compose", url.Values{"from": {"news@doe.test"}, "to": {testUser}, "bcc": {"secret@doe.test"}, "subject": {"hidden"}})
	wantStatus(t, "send with bcc", resp, http.StatusSeeOther)
	for _, who := range []string{testUser, "secret@doe.test"} {
		box := e.mailbox(who, "INBOX")
		if len(box) != 1 {
			t.Fatalf("%s got %d messages", who, len(box))
		}
		if strings.Contains(strings.ToLower(box[0]), "bcc") || strings.Contains(box[0], "secret@") {
			t.Fatalf("%s can see the Bcc: %q", who, box[0])
		}
	}
}

// The live stream must outlive the HTTPS server's ReadTimeout (which is
// there to bound slow uploads).
func TestMailEventsOutliveReadTimeout(t *testing.T) {
	e := newEnv(t)
	e.ts.Close()
	e.ts = httptest.NewUnstartedServer(e.ui.Handler())
	e.ts.Config.ReadTimeout = 200 * time.Millisecond
	e.ts.EnableHTTP2 = true // as browsers use it
	e.ts.StartTLS()
	defer e.ts.Close()
	c := e.client()
	c.login("mail", testUser, userPW)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/mail/events", nil)
	resp, err := c.c.Do(req)
	must(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	br.ReadString('\n')
	time.Sleep(600 * time.Millisecond) // well past the read deadline
	_, err = e.st.Append(testUser, "INBOX", []byte("Subject: late\r\n\r\nx\r\n"), nil, time.Now())
	must(t, err)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			return
		}
	}
}
