package store

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/junk"
)

func TestJunkTrainingByFiling(t *testing.T) {
	st := mbTestStore(t)
	const u = "alice@a.test"
	mbTestUser(t, st, u)
	totals := func() junk.Totals {
		t.Helper()
		tot, err := st.Junk.Totals(u)
		if err != nil {
			t.Fatal(err)
		}
		return tot
	}
	var uids []uint32
	for i := range 4 {
		m, err := st.Append(u, "INBOX", mbMsg(i), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, m.UID)
	}
	// MOVE into Junk: spam.
	res, err := st.Move(u, "INBOX", uids[:2], "Junk")
	if err != nil {
		t.Fatal(err)
	}
	if tot := totals(); tot.Spam != 2 || tot.Ham != 0 || tot.LastTrained.IsZero() {
		t.Fatalf("after move to Junk: %+v", tot)
	}
	// COPY into Junk: spam; the same message again counts once.
	st.Copy(u, "INBOX", uids[2:3], "Junk")
	st.Copy(u, "INBOX", uids[2:3], "Junk")
	if tot := totals(); tot.Spam != 3 {
		t.Fatalf("after copies to Junk: %+v", tot)
	}
	// Out of Junk to the INBOX: ham, the spam training retracted.
	if _, err := st.Move(u, "Junk", res.DestUIDs[:1], "INBOX"); err != nil {
		t.Fatal(err)
	}
	if tot := totals(); tot.Spam != 2 || tot.Ham != 1 {
		t.Fatalf("after move out of Junk: %+v", tot)
	}
	// Out of Junk to Trash: nothing learnt.
	st.Move(u, "Junk", res.DestUIDs[1:2], "Trash")
	if tot := totals(); tot.Spam != 2 || tot.Ham != 1 {
		t.Fatalf("after move to Trash: %+v", tot)
	}
	// Between other folders: nothing.
	st.Move(u, "INBOX", uids[3:4], "Archive")
	if tot := totals(); tot.Spam+tot.Ham != 3 {
		t.Fatalf("after move to Archive: %+v", tot)
	}
	// Keywords: $NotJunk is ham, $Junk is spam; \Answered is ham.
	m, _ := st.Append(u, "INBOX", mbMsg(10), nil, time.Now())
	st.SetFlags(u, "INBOX", []uint32{m.UID}, FlagsAdd, []string{"$Junk"})
	if tot := totals(); tot.Spam != 3 {
		t.Fatalf("after $Junk: %+v", tot)
	}
	st.SetFlags(u, "INBOX", []uint32{m.UID}, FlagsAdd, []string{"$NotJunk"})
	if tot := totals(); tot.Spam != 2 || tot.Ham != 2 {
		t.Fatalf("after $NotJunk: %+v", tot)
	}
	m2, _ := st.Append(u, "INBOX", mbMsg(11), nil, time.Now())
	st.SetFlags(u, "INBOX", []uint32{m2.UID}, FlagsAdd, []string{`\Answered`})
	if tot := totals(); tot.Ham != 3 {
		t.Fatalf("after \\Answered: %+v", tot)
	}
	// Removing the user forgets the model.
	if err := st.RemoveUser(u); err != nil {
		t.Fatal(err)
	}
	if tot := totals(); tot != (junk.Totals{}) {
		t.Fatalf("after removal: %+v", tot)
	}
}

// A user's own sent mail is ham, and its recipients become contacts
// (learnt in the background after the commit).
func TestJunkLearnsSentMail(t *testing.T) {
	st := mbTestStore(t)
	const u = "alice@a.test"
	mbTestUser(t, st, u)
	_, err := st.Accept(&Incoming{From: u, Login: u, Remote: []string{"Bob@Remote.example"},
		Body: []byte("From: <alice@a.test>\r\nTo: <bob@remote.example>\r\nSubject: lunch\r\nMessage-ID: <s1@a.test>\r\n\r\nsee you at noon\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	// An auto-reply (null sender) teaches nothing.
	st.Accept(&Incoming{From: "", Login: u, Remote: []string{"spammer@bad.example"}, Body: []byte("Subject: Auto: x\r\n\r\naway\r\n")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		tot, _ := st.Junk.Totals(u)
		known, _ := st.Junk.Known(u, "bob@remote.example", "")
		if tot.Ham == 1 && known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent mail not learnt: %+v known=%v", tot, known)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, _ := st.Junk.Known(u, "", "remote.example"); !ok {
		t.Error("the recipient's domain is not a contact")
	}
	if ok, _ := st.Junk.Known(u, "spammer@bad.example", ""); ok {
		t.Error("an auto-reply's recipient became a contact")
	}
}

// TestSentLearningSamples: a burst of sent mail trains one message per
// user per minute and writes each contact once, so background training
// does not hold the writer lock against the submissions it follows.
func TestSentLearningSamples(t *testing.T) {
	l := newSentLearning()
	now := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	trained := 0
	for i := 0; i < 100; i++ {
		if l.takeSample("a@x.test", now.Add(time.Duration(i)*100*time.Millisecond)) {
			trained++
		}
	}
	if trained != 1 {
		t.Fatalf("a 10-second burst trained %d messages, want 1", trained)
	}
	if !l.takeSample("b@x.test", now) {
		t.Error("another user's first message was not trained")
	}
	if !l.takeSample("a@x.test", now.Add(sentSampleEvery+time.Second)) {
		t.Error("a message a minute later was not trained")
	}
	if got := l.newContacts("a@x.test", []string{"bob@r.test", "@r.test"}, now); len(got) != 2 {
		t.Fatalf("first contacts: %v", got)
	}
	if got := l.newContacts("a@x.test", []string{"bob@r.test", "@r.test", "carol@r.test"}, now.Add(time.Minute)); len(got) != 1 || got[0] != "carol@r.test" {
		t.Fatalf("repeat contacts written again: %v", got)
	}
	if got := l.newContacts("a@x.test", []string{"bob@r.test"}, now.Add(sentContactTTL+time.Minute)); len(got) != 1 {
		t.Fatalf("contact not refreshed after its TTL: %v", got)
	}
}
