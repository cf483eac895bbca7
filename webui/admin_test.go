package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

func TestAdminDomainAndUserFlow(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("admin", "admin", adminPW)

	resp, _ := c.post("/admin/domains", url.Values{"domain": {"www.Shop.Example"}})
	wantStatus(t, "add domain", resp, http.StatusSeeOther)
	if resp.Header.Get("Location") != "/admin/domains/shop.example" {
		t.Fatalf("after add: %s", resp.Header.Get("Location"))
	}
	d, err := e.st.GetDomain("shop.example")
	if err != nil || d.SMTP || d.Webmail {
		t.Fatalf("new domain %+v %v", d, err)
	}
	_, body := c.get("/admin/domains/shop.example")
	if !strings.Contains(body, `id="smtp-username">shop.example<`) || !strings.Contains(body, "any address @shop.example") {
		t.Fatal("Authenticated SMTP page lacks the username or the explanation")
	}
	// The switch needs a password first.
	c.post("/admin/domains/shop.example/switch", url.Values{"switch": {"smtp"}, "on": {"1"}})
	if d, _ := e.st.GetDomain("shop.example"); d.SMTP {
		t.Fatal("SMTP switched on without a domain password")
	}
	// Weak and mismatched passwords are refused.
	for _, pw := range [][2]string{{"short", "short"}, {"aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa"}, {"password12345", "password12345"},
		{"Good-Pass-123!x", "Other-Pass-123!x"}, {"Good-Pass-123!x\r\nBcc: x", "Good-Pass-123!x\r\nBcc: x"}} {
		c.post("/admin/domains/shop.example/password", url.Values{"password": {pw[0]}, "confirm": {pw[1]}})
		if d, _ := e.st.GetDomain("shop.example"); d.PasswordHash != "" {
			t.Fatalf("password %q accepted", pw[0])
		}
	}
	const pw = "Shop-Secret-9911-xyz"
	resp, _ = c.post("/admin/domains/shop.example/password", url.Values{"password": {pw}, "confirm": {pw}})
	wantStatus(t, "set password", resp, http.StatusSeeOther)
	if p, err := e.st.Authenticate("shop.example", pw); err != nil || p.Kind != store.KindDomain {
		t.Fatalf("domain login after set: %v", err)
	}
	c.post("/admin/domains/shop.example/switch", url.Values{"switch": {"smtp"}, "on": {"1"}})
	c.post("/admin/domains/shop.example/switch", url.Values{"switch": {"webmail"}, "on": {"1"}})
	if d, _ := e.st.GetDomain("shop.example"); !d.SMTP || !d.Webmail {
		t.Fatalf("switches not on: %+v", d)
	}
	resp, _ = c.post("/admin/domains/shop.example/switch", url.Values{"switch": {"nonsense"}, "on": {"1"}})
	wantStatus(t, "unknown switch", resp, http.StatusBadRequest)

	// Users and email rules.
	resp, _ = c.post("/admin/domains/shop.example/users", url.Values{"local": {"Anna"}, "password": {"Anna-Secret-77-abc"}, "confirm": {"Anna-Secret-77-abc"}})
	wantStatus(t, "add user", resp, http.StatusSeeOther)
	if _, err := e.st.Authenticate("anna@shop.example", "Anna-Secret-77-abc"); err != nil {
		t.Fatalf("user login: %v", err)
	}
	for _, bad := range []string{"x@other.example", "a\r\nb", "", "<script>"} {
		c.post("/admin/domains/shop.example/users", url.Values{"local": {bad}, "password": {"Anna-Secret-77-abc"}, "confirm": {"Anna-Secret-77-abc"}})
	}
	if us, _ := e.st.ListUsers("shop.example"); len(us) != 1 {
		t.Fatalf("bad local parts made users: %+v", us)
	}
	c.post("/admin/domains/shop.example/users/quota", url.Values{"address": {"anna@shop.example"}, "quota": {"2G"}})
	c.post("/admin/domains/shop.example/users/forward", url.Values{"address": {"anna@shop.example"}, "forward": {"anna@elsewhere.example"}, "keep": {"1"}})
	c.post("/admin/domains/shop.example/catchall", url.Values{"catchall": {"anna@shop.example"}})
	c.post("/admin/domains/shop.example/users/vacation", url.Values{"address": {"anna@shop.example"}, "vacation": {"Away until Monday."}})
	u, _ := e.st.GetUser("anna@shop.example")
	if u.Vacation != "Away until Monday." {
		t.Fatalf("vacation not saved: %q", u.Vacation)
	}
	if u.Quota != 2<<30 || u.Forward != "anna@elsewhere.example" || !u.ForwardKeep {
		t.Fatalf("user rules not saved: %+v", u)
	}
	if d, _ := e.st.GetDomain("shop.example"); d.CatchAll != "anna@shop.example" {
		t.Fatalf("catch-all not saved: %q", d.CatchAll)
	}
	// A user of another domain cannot be changed through this domain's page.
	c.post("/admin/domains/shop.example/users/password", url.Values{"address": {testUser}, "password": {"Hijack-Pass-123-xyz"}, "confirm": {"Hijack-Pass-123-xyz"}})
	if _, err := e.st.Authenticate(testUser, userPW); err != nil {
		t.Fatal("password of another domain's user changed")
	}
	_, body = c.get("/admin/domains/shop.example/users")
	if !strings.Contains(body, "anna@shop.example") || !strings.Contains(body, "2.0 GiB") {
		t.Fatal("users page does not show the user and quota")
	}

	// Removing: refused while users remain, and without confirmation.
	c.post("/admin/domains/shop.example/remove", url.Values{"confirm": {"shop.example"}})
	if _, err := e.st.GetDomain("shop.example"); err != nil {
		t.Fatal("domain with users removed")
	}
	c.post("/admin/domains/shop.example/users/remove", url.Values{"address": {"anna@shop.example"}})
	if _, err := e.st.GetUser("anna@shop.example"); err != nil {
		t.Fatal("user removed without confirmation")
	}
	c.post("/admin/domains/shop.example/users/remove", url.Values{"address": {"anna@shop.example"}, "confirm": {"yes"}})
	if _, err := e.st.GetUser("anna@shop.example"); err == nil {
		t.Fatal("user not removed")
	}
	c.post("/admin/domains/shop.example/remove", url.Values{"confirm": {"nope"}})
	if _, err := e.st.GetDomain("shop.example"); err != nil {
		t.Fatal("domain removed without the right confirmation")
	}
	c.post("/admin/domains/shop.example/remove", url.Values{"confirm": {"shop.example"}})
	if _, err := e.st.GetDomain("shop.example"); err == nil {
		t.Fatal("domain not removed")
	}
	resp, _ = c.get("/admin/domains/shop.example")
	wantStatus(t, "removed domain page", resp, http.StatusNotFound)
}

func TestAdminPagesEscape(t *testing.T) {
	e := newEnv(t)
	const evil = `"><img src=x onerror=alert(1)>`
	// Attacker-controlled strings reach the admin through failed logins and queued subjects.
	e.st.Throttle.Fail("smtp", "192.0.2.1", evil)
	_, err := e.st.Accept(&store.Incoming{From: testUser, Login: testUser, Remote: []string{"x@remote.example"}, Subject: evil,
		Body: []byte("Subject: " + evil + "\r\nFrom: " + testUser + "\r\n\r\nhi\r\n")})
	must(t, err)
	c := e.client()
	c.login("admin", "admin", adminPW)
	q, _ := e.st.ListQueue()
	for _, path := range []string{"/admin/security", "/admin/queue", "/admin/queue/" + q[0].ID, "/admin"} {
		resp, body := c.get(path)
		wantStatus(t, path, resp, 200)
		if strings.Contains(body, "<img src=x") {
			t.Fatalf("%s: unescaped attacker data", path)
		}
	}
	_, body := c.get("/admin/security")
	if !strings.Contains(body, "192.0.2.1") {
		t.Fatal("security page lacks the failure")
	}
}

func TestAdminQueueAndSecurity(t *testing.T) {
	e := newEnv(t)
	acc, err := e.st.Accept(&store.Incoming{From: testUser, Login: testUser, Remote: []string{"x@remote.example"}, Subject: "hello queue",
		Body: []byte("Subject: hello queue\r\nFrom: " + testUser + "\r\n\r\nhi\r\n")})
	must(t, err)
	c := e.client()
	c.login("admin", "admin", adminPW)
	_, body := c.get("/admin/queue?q=remote.example")
	if !strings.Contains(body, acc.QueueID) {
		t.Fatal("queue filter lost the entry")
	}
	_, body = c.get("/admin/queue?q=nomatch")
	if strings.Contains(body, acc.QueueID) {
		t.Fatal("queue filter kept a non-matching entry")
	}
	_, body = c.get("/admin/queue/" + acc.QueueID)
	if !strings.Contains(body, "hello queue") || !strings.Contains(body, "Accepted") || !strings.Contains(body, `id="queue-text">hi`) {
		t.Fatal("queue entry page lacks headers or timeline")
	}
	resp, _ := c.get("/admin/queue/not-an-id")
	wantStatus(t, "bad queue id", resp, http.StatusNotFound)
	resp, _ = c.post("/admin/queue/"+acc.QueueID+"/retry", nil)
	wantStatus(t, "retry", resp, http.StatusSeeOther)
	resp, _ = c.post("/admin/queue/"+acc.QueueID+"/delete", nil)
	wantStatus(t, "delete", resp, http.StatusSeeOther)
	if _, err := e.st.GetQueue(acc.QueueID); err == nil {
		t.Fatal("queue entry not deleted")
	}
	// Dashboard counts it as sent.
	_, body = c.get("/admin")
	if !strings.Contains(body, "sent 1") {
		t.Fatal("dashboard does not count the sent message")
	}

	// Block an IP through the shared throttle, then unblock it from the page.
	for i := 0; i < 6; i++ {
		e.st.Throttle.Fail("imap", "198.51.100.7", "someone@doe.test")
	}
	_, body = c.get("/admin/security")
	if !strings.Contains(body, "ip:198.51.100.7") {
		t.Fatal("blocked IP not shown")
	}
	c.post("/admin/security/unblock", url.Values{"key": {"ip:198.51.100.7"}})
	if blocked, _ := e.st.Throttle.Check("198.51.100.7", "x"); blocked {
		t.Fatal("unblock did not unblock")
	}
}

func TestAdminPasswordChangeEndsSessions(t *testing.T) {
	e := newEnv(t)
	c, other := e.client(), e.client()
	c.login("admin", "admin", adminPW)
	other.login("admin", "admin", adminPW)
	resp, _ := c.post("/admin/password", url.Values{"current": {"wrong"}, "password": {"New-Admin-Pass-42!"}, "confirm": {"New-Admin-Pass-42!"}})
	wantStatus(t, "wrong current password", resp, http.StatusForbidden)
	resp, _ = c.post("/admin/password", url.Values{"current": {adminPW}, "password": {"New-Admin-Pass-42!"}, "confirm": {"New-Admin-Pass-42!"}})
	wantStatus(t, "change", resp, http.StatusSeeOther)
	for _, b := range []*client{c, other} {
		if resp, _ := b.get("/admin"); resp.StatusCode != http.StatusSeeOther {
			t.Fatal("an admin session survived the password change")
		}
	}
	c.login("admin", "admin", "New-Admin-Pass-42!")
}

func TestAdminDNSPage(t *testing.T) {
	e := newEnv(t)
	var checked bool
	ui, err := New(Config{Store: e.st, Events: e.st.Events, Throttle: e.st.Throttle, Junk: e.st.Junk, DNS: func(_ context.Context, domain string, check bool) ([]DNSRecord, error) {
		checked = check
		return []DNSRecord{{Type: "MX", Name: domain, Value: "10 mail." + domain + ".", Purpose: "Receive mail", Checked: check, OK: check},
			{Type: "TXT", Name: "_dmarc." + domain, Value: `v=DMARC1; p=quarantine; "><b>x</b>`, Purpose: "DMARC", Checked: check, Found: "missing"}}, nil
	}})
	must(t, err)
	e.ts.Close()
	e.ts = httptest.NewTLSServer(ui.Handler())
	defer e.ts.Close()
	c := e.client()
	c.login("admin", "admin", adminPW)
	_, body := c.get("/admin/domains/doe.test/dns")
	if checked || !strings.Contains(body, "10 mail.doe.test.") || strings.Contains(body, "<b>x</b>") {
		t.Fatal("DNS page without check wrong or unescaped")
	}
	_, body = c.get("/admin/domains/doe.test/dns?check=1")
	if !checked || !strings.Contains(body, `<span class="pill on">ok</span>`) || !strings.Contains(body, "found: missing") {
		t.Fatal("DNS page with check lacks the live results")
	}
}

// TestAdminDomainNamesAndPasswords: the panel uses the store's one
// canonical domain name and one password policy, as the CLI does: an IP
// address is no domain, and a password enough for a user (10 characters)
// is not enough for a domain login (12), with the reason shown.
func TestAdminDomainNamesAndPasswords(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("admin", "admin", adminPW)
	c.post("/admin/domains", url.Values{"domain": {"1.2.3.4"}})
	if _, body := c.get("/admin/domains"); !strings.Contains(body, "IP address") {
		t.Error("adding 1.2.3.4 does not say it is an IP address")
	}
	if ds, _ := e.st.ListDomains(); len(ds) != 1 {
		t.Fatalf("domains: %+v", ds)
	}
	const ten = "Kq7#vZ2!mW"
	c.post("/admin/domains/"+testDom+"/password", url.Values{"password": {ten}, "confirm": {ten}})
	if _, body := c.get("/admin/domains/" + testDom); !strings.Contains(body, "12 characters") {
		t.Error("a 10-character domain password is not refused with its reason")
	}
	if _, err := e.st.Authenticate(testDom, ten); err == nil {
		t.Error("the 10-character domain password was set")
	}
	c.post("/admin/domains/"+testDom+"/users/password", url.Values{"address": {testUser}, "password": {ten}, "confirm": {ten}})
	if _, err := e.st.Authenticate(testUser, ten); err != nil {
		t.Errorf("a 10-character user password was refused: %v", err)
	}
}
