package store

import (
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
)

// TestRecordDeliveryDSN: the failure and its DSN commit together; a DSN
// that cannot be stored (sender over quota) leaves the failure recorded
// alone and says why; a notification not marked as a DSN is refused and
// changes nothing.
func TestRecordDeliveryDSN(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("alice@a.test", "pw-alice-123"); err != nil {
		t.Fatal(err)
	}
	queue := func(from string) string {
		t.Helper()
		acc, err := st.Accept(&Incoming{From: from, Remote: []string{"bad@remote.test"}, Body: []byte("Subject: x\r\n\r\nhi\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		return acc.QueueID
	}
	fail := func(dsn *Incoming) func(*QueueEntry) (*Incoming, error) {
		return func(q *QueueEntry) (*Incoming, error) {
			q.Rcpts[0].Status, q.Rcpts[0].Reply = RcptFailed, "550 5.1.1 no"
			return dsn, nil
		}
	}
	dsnBody := []byte("Subject: Undelivered\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n")
	// state says whether the entry is queued and how many messages alice has.
	state := func(id string) (entry bool, inbox int) {
		t.Helper()
		st.db.View(func(tx kv.Tx) error {
			entry = tx.Bucket(bucketQueue).Get(queueKey(id)) != nil
			return nil
		})
		msgs, err := st.ListMessages("alice@a.test", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return entry, len(msgs)
	}

	// Not a DSN: refused, nothing recorded.
	id := queue("alice@a.test")
	if _, err := st.RecordDeliveryDSN(id, fail(&Incoming{From: "alice@a.test", Local: []LocalRcpt{{Address: "alice@a.test"}}, Body: dsnBody})); err == nil {
		t.Fatal("a notification not marked DSN was stored")
	}
	if e, n := state(id); !e || n != 0 {
		t.Fatalf("after a refused call: entry %v, inbox %d; want entry kept, inbox 0", e, n)
	}

	// Local sender: both in one commit.
	ch, cancel := st.Events.Subscribe("alice@a.test")
	defer cancel()
	res, err := st.RecordDeliveryDSN(id, fail(&Incoming{DSN: true, Local: []LocalRcpt{{Address: "alice@a.test"}}, Body: dsnBody}))
	if err != nil || res.DSNErr != nil || res.DSN == nil || len(res.DSN.Local) != 1 {
		t.Fatalf("RecordDeliveryDSN = %+v, %v", res, err)
	}
	if e, n := state(id); e || n != 1 {
		t.Fatalf("entry %v, inbox %d; want entry finished and the DSN in INBOX", e, n)
	}
	if ev := <-ch; ev.Kind != EventNew || ev.Mailbox != "INBOX" {
		t.Errorf("event %+v, want a new message in INBOX", ev)
	}

	// Remote sender: the DSN is a new queue entry from <>.
	id = queue("sender@remote.test")
	res, err = st.RecordDeliveryDSN(id, fail(&Incoming{DSN: true, Remote: []string{"sender@remote.test"}, Body: dsnBody}))
	if err != nil || res.DSN == nil || res.DSN.QueueID == "" {
		t.Fatalf("remote DSN: %+v, %v", res, err)
	}
	q, err := st.GetQueue(res.DSN.QueueID)
	if err != nil || !q.DSN || q.From != "" || q.Rcpts[0].Address != "sender@remote.test" {
		t.Fatalf("queued DSN = %+v, %v", q, err)
	}
	if _, err := st.GetQueue(id); err == nil {
		t.Error("the failed entry is still queued")
	}

	// Sender over quota: the failure is recorded without the DSN.
	if err := st.SetQuota("alice@a.test", 100); err != nil {
		t.Fatal(err)
	}
	id = queue("alice@a.test")
	res, err = st.RecordDeliveryDSN(id, fail(&Incoming{DSN: true, Local: []LocalRcpt{{Address: "alice@a.test"}}, Body: dsnBody}))
	if err != nil || res.DSN != nil || res.DSNErr == nil {
		t.Fatalf("over quota: %+v, %v; want the attempt recorded and DSNErr set", res, err)
	}
	if e, n := state(id); e || n != 1 {
		t.Fatalf("over quota: entry %v, inbox %d; want entry finished, no new DSN", e, n)
	}
}
