package smtp

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
)

// FuzzMailRcptArgs fuzzes our side of MAIL FROM and RCPT TO (go-smtp
// parses the command line, we parse the address): a user login is let
// send only as its own canonical address, whatever the spelling; a
// recipient routes or gets a 5xx/4xx, never a panic; the canonical form
// is stable. Header address lists (From:, Sender:) parse without a panic.
func FuzzMailRcptArgs(f *testing.F) {
	st := testutil.Store(f)
	testutil.Domain(f, st, "doe.com", domPW, true)
	testutil.User(f, st, "john@doe.com", userPW)
	p := NewPipeline(st, "mail.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	domain := store.Principal{Kind: store.KindDomain, Domain: "doe.com"}
	for _, s := range []string{
		"john@doe.com", "<John@DOE.com>", "\"john\"@doe.com", "@r.test:john@doe.com", "john%x@doe.com",
		"john@doe.com.", "john@xn--bcher-kva.example", "jöhn@doe.com", "JOHN@doe.com ", "a@b@doe.com",
		"\"a b\"@doe.com", "john@[127.0.0.1]", "", "<>", "Kate <kate@doe.com>, \"x\" <y@z>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		canon, err := store.NormalizeAddress(addr)
		if err == nil {
			again, err2 := store.NormalizeAddress(canon)
			if err2 != nil || again != canon {
				t.Fatalf("%q → %q → %q, %v", addr, canon, again, err2)
			}
			if strings.Count(canon, "@") != 1 || strings.ContainsAny(canon, "%!\r\n ") {
				t.Fatalf("canonical %q", canon)
			}
		}
		if p.CheckSender(john, addr) == nil && canon != "john@doe.com" {
			t.Fatalf("john may send as %q (canonical %q)", addr, canon)
		}
		if p.CheckSender(domain, addr) == nil && store.DomainOf(canon) != "doe.com" {
			t.Fatalf("doe.com may send as %q", addr)
		}
		sub, err := p.Begin(john, "john@doe.com", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Abort()
		if err := sub.AddRecipient(addr); err != nil {
			if _, ok := err.(*gosmtp.SMTPError); !ok {
				t.Fatalf("recipient %q: %v is not an SMTP reply", addr, err)
			}
		}
		mailmsg.ParseAddressList(addr)
	})
}
