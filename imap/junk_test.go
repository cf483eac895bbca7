package imap

import (
	"strconv"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// waitTotals waits until alice's junk filter holds spam and ham
// messages (training runs after the IMAP command's commit).
func (ts *testServer) waitTotals(t *testing.T, what string, spam, ham int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tot, err := ts.st.Junk.Totals(testUser)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Spam == spam && tot.Ham == ham {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: filter holds %d spam, %d ham; want %d, %d", what, tot.Spam, tot.Ham, spam, ham)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uidOf returns the UID of the message whose Message-ID is <i@example.org>
// in the selected mailbox.
func uidOf(t *testing.T, c *imapclient.Client, i int) goimap.UID {
	t.Helper()
	var crit goimap.SearchCriteria
	crit.Header = []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<" + strconv.Itoa(i) + "@example.org>"}}
	d, err := c.UIDSearch(&crit, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := d.AllUIDs()
	if len(uids) != 1 {
		t.Fatalf("message %d: %d matches", i, len(uids))
	}
	return uids[0]
}

// Training through a real IMAP session, as any client does it: COPY or
// MOVE into Junk is spam, MOVE out of Junk is ham and takes the spam
// back, out of Junk into Trash changes nothing, the $Junk keyword is
// spam, and the same message twice counts once.
func TestJunkTrainingOverIMAP(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t, nil)
	for i := 1; i <= 3; i++ {
		appendMsg(t, c, "INBOX", testMessage(i, "offer"), nil)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(goimap.UIDSetNum(uidOf(t, c, 1)), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	ts.waitTotals(t, "COPY into Junk", 1, 0)
	if _, err := c.Move(goimap.UIDSetNum(uidOf(t, c, 2)), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	ts.waitTotals(t, "MOVE into Junk", 2, 0)
	if _, err := c.Copy(goimap.UIDSetNum(uidOf(t, c, 1)), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // nothing may change: give it the chance
	ts.waitTotals(t, "the same message into Junk again", 2, 0)

	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	d, err := c.UIDSearch(&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<1@example.org>"}}}, nil).Wait()
	if err != nil || len(d.AllUIDs()) != 2 {
		t.Fatalf("copies of message 1 in Junk: %v %v", d, err)
	}
	if _, err := c.Move(goimap.UIDSetNum(d.AllUIDs()...), "INBOX").Wait(); err != nil {
		t.Fatal(err)
	}
	ts.waitTotals(t, "MOVE out of Junk", 1, 1)
	if _, err := c.Move(goimap.UIDSetNum(uidOf(t, c, 2)), "Trash").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ts.waitTotals(t, "Junk to Trash", 1, 1)

	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(goimap.UIDSetNum(uidOf(t, c, 3)), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{"$Junk"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	ts.waitTotals(t, "$Junk keyword", 2, 1)
}
