package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// dsnRoute says where a DSN to the sender of q goes: their mailboxes when
// the sender is hosted here (a hosted address without a mailbox: its alias
// or catch-all, else the domain's postmaster), the queue (from the null
// sender) otherwise;
// nil when q gets none. A DSN never gets a DSN (RFC 5321 §4.5.5), and mail
// from <> gets none.
func (r *Runner) dsnRoute(q store.QueueEntry) *store.Route {
	if q.DSN || q.From == "" {
		return nil
	}
	route, err := r.st.Route(q.From)
	if errors.Is(err, store.ErrNoSuchUser) {
		// A hosted address without a mailbox, alias or catch-all (a
		// domain login may send as any): the domain's postmaster@ gets it.
		pm := "postmaster@" + store.DomainOf(q.From)
		r.log.Info("DSN for a sender without a mailbox goes to the postmaster", "id", q.ID, "sender", q.From, "to", pm)
		route, err = r.st.Route(pm)
	}
	if err != nil {
		r.log.Warn("no way to return a DSN", "id", q.ID, "sender", q.From, "err", err)
		return nil
	}
	return &route
}

// dsnFor builds the DSN for the failed recipients of q, to be stored in
// the same transaction as their failure (apply).
func (r *Runner) dsnFor(q store.QueueEntry, failed []store.QueueRcpt, body []byte, route store.Route, now time.Time) *store.Incoming {
	in := &store.Incoming{From: "", Body: BuildDSN(r.cfg.Hostname, q, failed, body, now), DSN: true,
		Subject: "Undelivered Mail Returned to Sender"}
	if len(route.Local) > 0 {
		in.Local = route.Local
	} else {
		in.Remote = route.Remote
	}
	return in
}

var enhancedRe = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)

// statusOf finds the enhanced status code in a reply, or guesses one.
func statusOf(reply string) string {
	if m := enhancedRe.FindString(reply); m != "" {
		if m[0] == '2' {
			return "5.0.0"
		}
		return m
	}
	return "5.0.0"
}

// headerOf returns the header block of a message (up to the empty line).
func headerOf(body []byte) []byte {
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		return body[:i+2]
	}
	if len(body) > 64<<10 {
		return body[:64<<10]
	}
	return body
}

// BuildDSN makes an RFC 3464 multipart/report for the failed recipients,
// with the original message's headers (text/rfc822-headers).
func BuildDSN(hostname string, q store.QueueEntry, failed []store.QueueRcpt, orig []byte, now time.Time) []byte {
	var rb [12]byte
	rand.Read(rb[:])
	boundary := "dsn-" + hex.EncodeToString(rb[:])
	date := now.UTC().Format(time.RFC1123Z)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", hostname)
	w("To: <%s>", q.From)
	w("Subject: Undelivered Mail Returned to Sender")
	w("Date: %s", date)
	w("Message-ID: <%s.dsn@%s>", hex.EncodeToString(rb[:8]), hostname)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("This is the mail system at %s.", hostname)
	w("")
	w("Your message could not be delivered to these recipients:")
	w("")
	for _, f := range failed {
		w("  <%s>: %s", f.Address, oneLine(f.Reply))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", hostname)
	w("X-Authsmtp-Queue-ID: %s", q.ID)
	w("Arrival-Date: %s", q.Created.UTC().Format(time.RFC1123Z))
	for _, f := range failed {
		w("")
		w("Final-Recipient: rfc822; %s", f.Address)
		w("Action: failed")
		w("Status: %s", statusOf(f.Reply))
		if host := lastHost(q, f.Address); host != "" {
			w("Remote-MTA: dns; %s", host)
		}
		w("Diagnostic-Code: smtp; %s", oneLine(f.Reply))
		w("Last-Attempt-Date: %s", date)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(headerOf(orig))
	w("")
	w("--%s--", boundary)
	return []byte(b.String())
}

func oneLine(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 900 {
		s = s[:900]
	}
	return s
}

func lastHost(q store.QueueEntry, rcpt string) string {
	for i := len(q.Attempts) - 1; i >= 0; i-- {
		for _, a := range q.Attempts[i].Rcpts {
			if a == rcpt {
				return q.Attempts[i].Host
			}
		}
	}
	return ""
}
