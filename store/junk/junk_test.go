package junk

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// stores runs a test against every Store implementation.
func stores(t *testing.T, fn func(t *testing.T, st Store)) {
	t.Run("mem", func(t *testing.T) { fn(t, NewMemStore()) })
	t.Run("bolt", func(t *testing.T) {
		db, err := boltkv.Open(filepath.Join(t.TempDir(), "j.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st, err := NewKVStore(db)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, st)
	})
}

func spamMsg(i int) []byte {
	return crlf(fmt.Sprintf("From: Winner <prize%d@lottery.example>\nSubject: You won the lottery %d\nMessage-ID: <s%d@lottery.example>\n\nClaim your cash prize now, click http://claim.lottery.example/now viagra cheap pills\n", i, i, i))
}

func hamMsg(i int) []byte {
	return crlf(fmt.Sprintf("From: Bob <bob@work.example>\nSubject: Meeting notes %d\nMessage-ID: <h%d@work.example>\n\nHere are the notes from the project meeting about the release schedule and the build.\n", i, i))
}

func TestTrainClassify(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		f := New(st, Config{MinTrained: 3})
		const user = "alice@a.example"
		now := time.Now()
		// Untrained: no verdict at all.
		v, err := f.Classify(user, Tokenize(spamMsg(100)))
		if err != nil || v.Model != "" || v.Spam {
			t.Fatalf("untrained verdict %+v, %v", v, err)
		}
		for i := range 3 {
			if _, err := f.Train(user, spamMsg(i), Spam, now); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			f.Train(user, hamMsg(i), Ham, now)
		}
		if v, _ := f.Classify(user, Tokenize(spamMsg(100))); v.Model != "" {
			t.Fatalf("2 ham trained, below the minimum: %+v", v)
		}
		f.Train(user, hamMsg(2), Ham, now)
		v, _ = f.Classify(user, Tokenize(spamMsg(100)))
		if v.Model != "user" || !v.Spam {
			t.Errorf("spam verdict %+v", v)
		}
		v, _ = f.Classify(user, Tokenize(hamMsg(100)))
		if v.Model != "user" || v.Spam || v.Score > 0.2 {
			t.Errorf("ham verdict %+v", v)
		}
		// Another user of the domain falls back on the domain's model.
		v, _ = f.Classify("carol@a.example", Tokenize(spamMsg(100)))
		if v.Model != "domain" || !v.Spam {
			t.Errorf("domain fallback verdict %+v", v)
		}
		if v, _ := f.Classify("dave@b.example", Tokenize(spamMsg(100))); v.Model != "" {
			t.Errorf("other domain judged: %+v", v)
		}
	})
}

func TestTrainIdempotentAndRetrain(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		f := New(st, Config{MinTrained: 1})
		const user = "alice@a.example"
		now := time.Unix(1700000000, 0).UTC()
		msg := spamMsg(1)
		if ch, _ := f.Train(user, msg, Spam, now); !ch {
			t.Error("first training changed nothing")
		}
		// The same message with trace fields on top is the same message.
		again := append(crlf("Received: from x by y; now\nX-Spam-Score: 9\n"), msg...)
		if ch, _ := f.Train(user, again, Spam, now); ch {
			t.Error("training twice changed the model")
		}
		tot, _ := f.Totals(user)
		if tot.Spam != 1 || tot.Ham != 0 || !tot.LastTrained.Equal(now) {
			t.Errorf("totals %+v", tot)
		}
		// Out of Junk: ham, and the spam training is retracted.
		if ch, _ := f.Train(user, msg, Ham, now); !ch {
			t.Error("retraining changed nothing")
		}
		tot, _ = f.Totals(user)
		if tot.Spam != 0 || tot.Ham != 1 {
			t.Errorf("after retraining: %+v", tot)
		}
		_, counts, _ := st.Counts(UserModel(user), []string{"cash", "s:lottery"})
		for _, c := range counts {
			if c != (Count{Ham: 1}) {
				t.Errorf("token counts after retraining %+v", counts)
			}
		}
		domTot, _ := st.Totals(DomainModel("a.example"))
		if domTot.Ham != 1 || domTot.Spam != 0 {
			t.Errorf("domain totals %+v", domTot)
		}
		if err := f.Reset(user); err != nil {
			t.Fatal(err)
		}
		if tot, _ := f.Totals(user); tot != (Totals{}) {
			t.Errorf("after reset %+v", tot)
		}
		if _, c, _ := st.Counts(UserModel(user), []string{"cash"}); c[0] != (Count{}) {
			t.Errorf("counts after reset %+v", c)
		}
	})
}

func TestContacts(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		m := UserModel("alice@a.example")
		if ok, _ := st.HasContact(m, []string{"bob@b.example"}); ok {
			t.Error("contact before any was added")
		}
		st.AddContacts(m, []string{"bob@b.example", "@b.example"}, time.Now())
		if ok, _ := st.HasContact(m, []string{"x@y", "bob@b.example"}); !ok {
			t.Error("added contact not found")
		}
		if ok, _ := st.HasContact(UserModel("carol@a.example"), []string{"bob@b.example"}); ok {
			t.Error("contact leaked to another user")
		}
	})
}

func TestCombine(t *testing.T) {
	f := New(NewMemStore(), Config{})
	tot := Totals{Ham: 100, Spam: 100}
	spammy := []Count{{0, 50}, {1, 80}, {0, 30}}
	hammy := []Count{{50, 0}, {80, 1}, {30, 0}}
	if s, n := f.combine(tot, spammy); s < 0.9 || n != 3 {
		t.Errorf("spammy tokens score %.3f (%d clues)", s, n)
	}
	if s, _ := f.combine(tot, hammy); s > 0.1 {
		t.Errorf("hammy tokens score %.3f", s)
	}
	if s, n := f.combine(tot, []Count{{10, 10}, {}}); s != 0.5 || n != 0 {
		t.Errorf("neutral tokens score %.3f (%d clues)", s, n)
	}
}
