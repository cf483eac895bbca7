package store

import (
	"errors"
	"strings"
	"testing"
)

// TestDelivery: the contract — begin, add recipients (routed once, a
// recipient carries its route), commit once — stores every copy in one
// commit; Abort stores nothing; a committed DedupKey refuses a second
// commit of the same message.
func TestDelivery(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.AddUser("jane@doe.com", "Usr-pass-k9W!q")
	if err := st.SetForward("jane@doe.com", "jane@far.example", true); err != nil {
		t.Fatal(err)
	}
	d := st.BeginDelivery(Envelope{From: "x@sender.example", Inbound: true})
	for _, a := range []string{"john@doe.com", "JOHN@doe.com", "jane@doe.com", "y@remote.example"} {
		if _, err := d.AddRecipient(a); err != nil {
			t.Fatal(a, err)
		}
	}
	if _, err := d.AddRecipient("nobody@doe.com"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("unknown user: %v", err)
	}
	rs := d.Recipients()
	if len(rs) != 3 || rs[1].Address != "jane@doe.com" || !rs[1].Route.Forwarded || len(rs[1].Route.Local) != 1 {
		t.Fatalf("recipients %+v", rs)
	}
	rp := "Return-Path: <x@sender.example>\r\n"
	body := rp + "From: x@sender.example\r\n\r\nhi\r\n"
	key := []byte("key-1")
	acc, err := d.Commit(Content{Body: []byte(body), LocalOnly: len(rp), Subject: "hi", DedupKey: key})
	if err != nil {
		t.Fatal(err)
	}
	// john and jane locally; y@remote.example queued with the sender; the
	// forwarded copy of jane queued with an SRS sender.
	if len(acc.Local) != 2 || len(acc.QueueIDs) != 2 {
		t.Fatalf("accepted %+v", acc)
	}
	if b, _ := st.Body(acc.Local[0].BodyID); string(b) != body {
		t.Fatalf("local copy %q", b)
	}
	q0, _ := st.GetQueue(acc.QueueIDs[0])
	q1, _ := st.GetQueue(acc.QueueIDs[1])
	b0, _ := st.Body(q0.BodyID)
	b1, _ := st.Body(q1.BodyID)
	if q0.From != "x@sender.example" || string(b0) != body[len(rp):] {
		t.Fatalf("remote copy from %q: %q", q0.From, b0)
	}
	if !strings.HasPrefix(strings.ToUpper(q1.From), "SRS0=") || string(b1) != "Delivered-To: jane@doe.com\r\n"+body[len(rp):] {
		t.Fatalf("forwarded copy from %q: %q", q1.From, b1)
	}
	if !st.Seen(key) {
		t.Fatal("dedup key not committed")
	}
	if _, err := d.Commit(Content{Body: []byte(body)}); err == nil {
		t.Fatal("a delivery committed twice")
	}

	// The same key again: nothing stored.
	d2 := st.BeginDelivery(Envelope{From: "x@sender.example", Inbound: true})
	d2.AddRecipient("john@doe.com")
	if _, err := d2.Commit(Content{Body: []byte(body), DedupKey: key}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	// Abort: nothing stored.
	d3 := st.BeginDelivery(Envelope{From: "john@doe.com", Login: "john@doe.com"})
	d3.AddRecipient("john@doe.com")
	d3.Abort()
	if _, err := d3.Commit(Content{Body: []byte(body)}); err == nil {
		t.Fatal("committed after Abort")
	}
	if ms, _ := st.ListMessages("john@doe.com", "INBOX"); len(ms) != 1 {
		t.Fatalf("john has %d messages, want 1", len(ms))
	}
	// Quota at AddRecipient; local copies as the caller adjusted them.
	st.UpdateUser("john@doe.com", func(u *User) error { u.Quota = 1 << 20; return nil })
	d4 := st.BeginDelivery(Envelope{From: "x@sender.example", Size: 2 << 20})
	if _, err := d4.AddRecipient("john@doe.com"); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("over quota: %v", err)
	}
	d5 := st.BeginDelivery(Envelope{From: "x@sender.example", Inbound: true})
	d5.AddRecipient("john@doe.com")
	local := d5.Locals()
	local[0].Mailbox = "Junk"
	if _, err := d5.Commit(Content{Body: []byte(body), Local: local}); err != nil {
		t.Fatal(err)
	}
	if ms, _ := st.ListMessages("john@doe.com", "Junk"); len(ms) != 1 {
		t.Fatalf("Junk has %d messages", len(ms))
	}
}
