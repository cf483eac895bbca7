package smtp

import (
	"strings"
	"testing"
)

// TestSendRule runs every row of the send rule over the go-smtp client,
// envelope and header.
func TestSendRule(t *testing.T) {
	e := newEnv(t, nil)
	john := []string{"john@doe.com"}
	for _, tc := range []struct {
		name      string
		login, pw string
		from      string
		headers   []string
		code      string // "" means accepted
		texts     []string
	}{
		{"domain login as a user", "doe.com", domPW, "john@doe.com", []string{"From: john@doe.com"}, "", nil},
		{"domain login as any local part", "doe.com", domPW, "nobody-yet@doe.com", []string{"From: Nobody <nobody-yet@doe.com>"}, "", nil},
		{"domain login www. and upper case", "WWW.DOE.COM", domPW, "jane@doe.com", []string{"From: jane@doe.com"}, "", nil},
		{"domain login cross-domain", "doe.com", domPW, "x@other.test", []string{"From: x@other.test"}, "553 5.7.1", []string{"x@other.test", "any address @doe.com"}},
		{"domain login look-alike", "doe.com", domPW, "x@doe.com.evil.test", []string{"From: x@doe.com"}, "553 5.7.1", nil},
		{"domain login subdomain", "doe.com", domPW, "x@a.doe.com", []string{"From: x@doe.com"}, "553 5.7.1", nil},
		{"user login as itself", "john@doe.com", userPW, "john@doe.com", []string{"From: John Doe <john@doe.com>"}, "", nil},
		{"user login case", "John@DOE.com", userPW, "JOHN@doe.com", []string{"From: John@Doe.Com"}, "", nil},
		{"user login as another user", "john@doe.com", userPW, "jane@doe.com", []string{"From: jane@doe.com"}, "553 5.7.1", []string{"jane@doe.com", "only john@doe.com"}},
		{"user login plus address", "john@doe.com", userPW, "john+tag@doe.com", []string{"From: john@doe.com"}, "553 5.7.1", nil},
		{"user login cross-domain", "john@doe.com", userPW, "john@other.test", []string{"From: john@doe.com"}, "553 5.7.1", nil},
		{"null sender", "doe.com", domPW, "", []string{"From: john@doe.com"}, "553 5.7.1", []string{"<>"}},
		{"header From other user", "john@doe.com", userPW, "john@doe.com", []string{"From: jane@doe.com"}, "550 5.7.1", []string{"From:", "jane@doe.com"}},
		{"header display name looks like address", "john@doe.com", userPW, "john@doe.com", []string{`From: "john@doe.com" <jane@doe.com>`}, "550 5.7.1", []string{"jane@doe.com"}},
		{"header several addresses", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com, jane@doe.com"}, "550 5.7.1", []string{"jane@doe.com"}},
		{"header folded", "john@doe.com", userPW, "john@doe.com", []string{"From: John\r\n <jane@doe.com>"}, "550 5.7.1", []string{"jane@doe.com"}},
		{"header encoded word", "john@doe.com", userPW, "john@doe.com", []string{"From: =?utf-8?q?john=40doe=2Ecom?= <jane@doe.com>"}, "550 5.7.1", []string{"jane@doe.com"}},
		{"header group", "doe.com", domPW, "john@doe.com", []string{"From: team: john@doe.com, x@other.test;"}, "550 5.7.1", []string{"x@other.test"}},
		{"header group in scope", "doe.com", domPW, "john@doe.com", []string{"From: team: john@doe.com, jane@doe.com;"}, "", nil},
		{"two From headers", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com", "From: jane@doe.com"}, "550 5.7.1", []string{"jane@doe.com"}},
		{"Sender other user", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com", "Sender: jane@doe.com"}, "550 5.7.1", []string{"Sender:", "jane@doe.com"}},
		{"Sender in scope", "doe.com", domPW, "john@doe.com", []string{"From: jane@doe.com", "Sender: john@doe.com"}, "", nil},
		{"header trailing-dot domain", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com."}, "550 5.6.0", nil},
		{"no From header", "john@doe.com", userPW, "john@doe.com", []string{"To: john@doe.com"}, "550 5.6.0", []string{"no From"}},
		{"empty From group", "john@doe.com", userPW, "john@doe.com", []string{"From: undisclosed:;"}, "550 5.6.0", nil},
		{"empty From group, Sender in scope", "john@doe.com", userPW, "john@doe.com", []string{`From: "CEO ceo@doe.com":;`, "Sender: john@doe.com"}, "550 5.6.0", []string{"at least one mailbox"}},
		{"empty From group, domain login", "doe.com", domPW, "john@doe.com", []string{`From: "security@paypal.example":;`, "Sender: john@doe.com"}, "550 5.6.0", []string{"at least one mailbox"}},
		{"empty From group beside a mailbox", "john@doe.com", userPW, "john@doe.com", []string{`From: "CEO":;, john@doe.com`}, "", nil},
		{"Resent-From other user", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com", "Resent-From: jane@doe.com"}, "550 5.7.1", []string{"Resent-From:", "jane@doe.com"}},
		{"Resent-Sender other domain", "doe.com", domPW, "john@doe.com", []string{"From: john@doe.com", "Resent-From: jane@doe.com", "Resent-Sender: x@other.test"}, "550 5.7.1", []string{"Resent-Sender:", "x@other.test"}},
		{"Resent-From in scope", "doe.com", domPW, "john@doe.com", []string{"From: jane@doe.com", "Resent-From: john@doe.com", "Resent-Sender: jane@doe.com"}, "", nil},
		{"Resent-From folded, encoded word", "john@doe.com", userPW, "john@doe.com", []string{"From: john@doe.com", "Resent-From: =?utf-8?q?John?=\r\n <jane@doe.com>"}, "550 5.7.1", []string{"jane@doe.com"}},
		{"unparseable From", "john@doe.com", userPW, "john@doe.com", []string{"From: <@route:jane@doe.com>"}, "550 5.6.0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.inbox(t, "john@doe.com"))
			err := e.send(t, tc.login, tc.pw, tc.from, john, msg(tc.headers...))
			after := len(e.inbox(t, "john@doe.com"))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if after != before+1 {
					t.Fatalf("INBOX grew by %d, want 1", after-before)
				}
				return
			}
			wantCode(t, err, tc.code, tc.texts...)
			if after != before {
				t.Fatalf("refused message was stored")
			}
		})
	}
}

// TestLoginRefusals: wrong password, unknown login, switch off, admin.
func TestLoginRefusals(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetAdminPassword("Adm-pass-w2E!r"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, login, pw, code, text string
	}{
		{"wrong password", "john@doe.com", "nope", "535 5.7.8", "invalid login or password"},
		{"unknown user", "ghost@doe.com", userPW, "535 5.7.8", "invalid login or password"},
		{"unknown domain", "nowhere.test", domPW, "535 5.7.8", "invalid login or password"},
		{"domain wrong password", "doe.com", userPW, "535 5.7.8", "invalid login or password"},
		{"switch off, domain login", "off.test", domPW, "535 5.7.8", "Authenticated SMTP is not enabled for the domain off.test"},
		{"switch off, user login", "bob@off.test", userPW, "535 5.7.8", "Authenticated SMTP is not enabled"},
		{"admin login", "admin", "Adm-pass-w2E!r", "535 5.7.8", "invalid login or password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.dial(t, tc.login, tc.pw)
			wantCode(t, err, tc.code, tc.text)
		})
	}
	// The switch turned on takes effect at the next login.
	if err := e.st.SetDomainSwitch("off.test", "smtp", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dial(t, "off.test", domPW); err != nil {
		t.Fatalf("after enabling: %v", err)
	}
}

// TestRecipients: unknown hosted user, remote recipient queued.
func TestRecipients(t *testing.T) {
	e := newEnv(t, nil)
	err := e.send(t, "doe.com", domPW, "john@doe.com", []string{"ghost@doe.com"}, msg("From: john@doe.com"))
	wantCode(t, err, "550 5.1.1", "ghost@doe.com")

	err = e.send(t, "doe.com", domPW, "john@doe.com", []string{"someone@remote.example", "jane@doe.com"}, msg("From: john@doe.com"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.st.ListQueue()
	if err != nil || len(q) != 1 {
		t.Fatalf("queue: %v %v", q, err)
	}
	if q[0].From != "john@doe.com" || len(q[0].Rcpts) != 1 || q[0].Rcpts[0].Address != "someone@remote.example" || q[0].Login != "doe.com" || q[0].Captured {
		t.Fatalf("queue entry: %+v", q[0])
	}
	in := e.inbox(t, "jane@doe.com")
	if len(in) != 1 || !strings.HasPrefix(in[0], "Received: from client") && !strings.HasPrefix(in[0], "Received: from ") {
		t.Fatalf("jane's INBOX: %q", in)
	}
}

// TestAliasSendAsSMTP: the admin-granted alias exception through the
// server. A grant names only a user of the alias's domain, and no user can
// later be created at the alias's address to inherit it.
func TestAliasSendAsSMTP(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.st.AddAlias("sales@doe.com", []string{"jane@doe.com"}, "john@doe.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AddAlias("info@doe.com", []string{"jane@doe.com"}, "bob@off.test"); err == nil {
		t.Fatal("a grant to another domain's user was accepted")
	}
	if _, err := e.st.AddUser("sales@doe.com", "sales-secret-1"); err == nil {
		t.Fatal("a user was created at a granted alias's address")
	}
	john := []string{"john@doe.com"}
	if err := e.send(t, "john@doe.com", userPW, "sales@doe.com", john, msg("From: Sales <sales@doe.com>")); err != nil {
		t.Fatalf("granted alias: %v", err)
	}
	err := e.send(t, "jane@doe.com", "Jan-pass-h3Y!p", "sales@doe.com", john, msg("From: sales@doe.com"))
	wantCode(t, err, "553 5.7.1", "sales@doe.com", "only jane@doe.com")
}
