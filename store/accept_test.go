package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestAccept: local recipients and the queue entry commit together, with
// one body shared by reference.
func TestAccept(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.AddUser("jane@doe.com", "Usr-pass-k9W!q")
	ch, cancel := st.Events.Subscribe("jane@doe.com")
	defer cancel()
	kicked := make(chan struct{}, 1)
	st.OnQueued(func() { kicked <- struct{}{} })
	body := []byte("From: john@doe.com\r\n\r\nhi\r\n")
	acc, err := st.Accept(&Incoming{From: "john@doe.com", Login: "john@doe.com", Body: body,
		Local:  []LocalRcpt{{Address: "jane@doe.com"}, {Address: "john@doe.com", Mailbox: "Sent", Flags: []string{`\Seen`}}},
		Remote: []string{"x@remote.example"}, Subject: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Local) != 2 || acc.QueueID == "" || acc.Local[0].UID != 1 {
		t.Fatalf("accepted %+v", acc)
	}
	<-kicked
	if ev := <-ch; ev.Kind != EventNew || ev.Mailbox != "INBOX" || ev.UID != 1 {
		t.Fatalf("event %+v", ev)
	}
	q, err := st.GetQueue(acc.QueueID)
	if err != nil || q.BodyID != acc.Local[0].BodyID || q.Pending()[0] != "x@remote.example" {
		t.Fatalf("queue %+v %v", q, err)
	}
	sent, _ := st.ListMessages("john@doe.com", "Sent")
	if len(sent) != 1 || !sent[0].HasFlag(`\Seen`) {
		t.Fatalf("Sent copy %+v", sent)
	}
	// The body survives until its last reference goes.
	if err := st.DeleteQueue(acc.QueueID); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Body(acc.Local[0].BodyID); err != nil || string(b) != string(body) {
		t.Fatalf("body after queue delete: %q %v", b, err)
	}
	if _, err := st.Accept(&Incoming{Body: body}); err == nil {
		t.Fatal("accepted with no recipients")
	}
	// Over quota: nothing of the message stays.
	st.UpdateUser("jane@doe.com", func(u *User) error { u.Quota = 10; return nil })
	if _, err := st.Accept(&Incoming{Body: body, Local: []LocalRcpt{{Address: "jane@doe.com"}}, Remote: []string{"y@remote.example"}}); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if qs, _ := st.ListQueue(); len(qs) != 0 {
		t.Fatalf("a refused message left a queue entry: %+v", qs)
	}
	if st.QuotaLeft("jane@doe.com", 100) || !st.QuotaLeft("john@doe.com", 1<<30) {
		t.Fatal("QuotaLeft")
	}
}

// TestAcceptConcurrent: many concurrent acceptances (group commit) each
// land once, with unique increasing UIDs.
func TestAcceptConcurrent(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("jane@doe.com", "Usr-pass-k9W!q")
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Accept(&Incoming{From: "a@doe.com", Body: []byte(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), Local: []LocalRcpt{{Address: "jane@doe.com"}}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, err := st.ListMessages("jane@doe.com", "INBOX")
	if err != nil || len(ms) != n {
		t.Fatalf("%d messages, %v", len(ms), err)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		if m.UID != uint32(i+1) {
			t.Fatalf("UID %d at %d", m.UID, i)
		}
		b, _ := st.Body(m.BodyID)
		if seen[string(b)] {
			t.Fatalf("body stored twice: %q", b)
		}
		seen[string(b)] = true
	}
}

// TestRoute: hosted user local, hosted unknown ErrNoSuchUser, else remote.
func TestRoute(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("jane@doe.com", "Usr-pass-k9W!q")
	r, err := st.Route("Jane@DOE.com")
	if err != nil || len(r.Local) != 1 || r.Local[0].Address != "jane@doe.com" || len(r.Remote) != 0 {
		t.Fatalf("local: %+v %v", r, err)
	}
	if _, err := st.Route("ghost@doe.com"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("unknown: %v", err)
	}
	r, err = st.Route("x@a.doe.com")
	if err != nil || len(r.Remote) != 1 || r.Remote[0] != "x@a.doe.com" {
		t.Fatalf("remote: %+v %v", r, err)
	}
	if _, err := st.Route("not an address"); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("bad: %v", err)
	}
}
