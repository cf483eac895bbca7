package store

import (
	"io"
	"log/slog"
	"testing"
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
