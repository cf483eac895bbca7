package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

func TestTrafficCounters(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDomain("doe.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser("john@doe.test", "x-Password-1234"); err != nil {
		t.Fatal(err)
	}
	body := []byte("Subject: x\r\n\r\nx\r\n")
	local := []LocalRcpt{{Address: "john@doe.test"}}
	for _, in := range []*Incoming{
		{From: "john@doe.test", Login: "john@doe.test", Local: local, Body: body},                                                        // sent
		{From: "john@doe.test", Login: "john@doe.test", Remote: []string{"a@b.example"}, Body: body},                                     // sent
		{From: "x@remote.example", Local: local, Body: body},                                                                             // received
		{From: "", Local: local, Body: body, DSN: true},                                                                                  // a bounce: neither
		{From: "john@doe.test", Login: "john@doe.test", Local: []LocalRcpt{{Address: "john@doe.test", Mailbox: "Captured"}}, Body: body}, // demo copy
	} {
		if _, err := s.Accept(in); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		h := s.Traffic(24)
		if len(h) != 24 {
			t.Fatalf("%d hours", len(h))
		}
		if last := h[23]; last.Sent != 2 || last.Received != 1 {
			t.Fatalf("this hour: %+v, want 2 sent 1 received", last)
		}
		for _, x := range h[:23] {
			if x.Sent != 0 || x.Received != 0 {
				t.Fatalf("an earlier hour has traffic: %+v", x)
			}
		}
		if w := s.Traffic(1000); len(w) != 7*24 {
			t.Fatalf("week has %d hours", len(w))
		}
	}
	check(s)
	// The counters are in the database: they survive a restart.
	s.Close()
	s, err = Open(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

// TestTrafficShardsShared: on a shared database the traffic counts go to
// shards by login or recipient domain, not to the one "traffic" key every
// node's transaction would write; Traffic adds the shards and a "traffic"
// key left from before (a store copied from one node). A store of its own
// keeps the one key.
func TestTrafficShardsShared(t *testing.T) {
	for _, shared := range []bool{false, true} {
		s, err := Open(t.TempDir(), Options{NoSync: true, Shared: shared, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.AddDomain("doe.test")
		body := []byte("Subject: x\r\n\r\nx\r\n")
		var logins []string
		for i := range 6 {
			login := fmt.Sprintf("u%d@doe.test", i)
			if _, err := s.AddUser(login, "x-Password-1234"); err != nil {
				t.Fatal(err)
			}
			logins = append(logins, login)
		}
		// Left by an older version, or by the single node it grew from.
		legacy := make([]byte, trafficSlots*16)
		h := uint64(time.Now().Unix() / 3600)
		slot := legacy[(h%trafficSlots)*16:]
		binary.BigEndian.PutUint64(slot, h)
		binary.BigEndian.PutUint32(slot[8:], 10)
		binary.BigEndian.PutUint32(slot[12:], 20)
		s.db.Update(func(tx kv.Tx) error { return tx.Bucket(bucketMeta).Put(keyTraffic, legacy) })
		for _, login := range logins {
			if _, err := s.Accept(&Incoming{From: login, Login: login, Remote: []string{"a@b.example"}, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Accept(&Incoming{From: "x@remote.example", Local: []LocalRcpt{{Address: logins[0]}}, Body: body}); err != nil {
			t.Fatal(err)
		}
		if last := s.Traffic(1)[0]; last.Sent != 16 || last.Received != 21 {
			t.Errorf("shared=%v: this hour %+v, want 16 sent (10 before) and 21 received (20 before)", shared, last)
		}
		keys := map[string]bool{}
		s.db.View(func(tx kv.Tx) error {
			c := tx.Bucket(bucketMeta).Cursor()
			for k, _ := c.Seek(keyTraffic); k != nil && bytes.HasPrefix(k, keyTraffic); k, _ = c.Next() {
				keys[string(k)] = true
			}
			if v := tx.Bucket(bucketMeta).Get(keyTraffic); !bytes.Equal(v, legacy) != !shared {
				t.Errorf("shared=%v: the traffic key changed=%v", shared, !bytes.Equal(v, legacy))
			}
			return nil
		})
		if shared && len(keys) < 3 {
			t.Errorf("six logins counted in %d keys %v, want them spread over shards", len(keys), keys)
		}
		if !shared && len(keys) != 1 {
			t.Errorf("a store of its own counts in %v, want the one traffic key", keys)
		}
	}
}
