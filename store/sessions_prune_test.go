package store

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestPruneSessions(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := Principal{Kind: KindAdmin}
	old, _ := s.NewSession(p, time.Minute)
	live, _ := s.NewSession(p, time.Hour)
	n, err := s.PruneSessions(time.Now().Add(30 * time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if _, ok := s.GetSession(old.ID); ok {
		t.Fatal("expired session still there")
	}
	if _, ok := s.GetSession(live.ID); !ok {
		t.Fatal("live session pruned")
	}
}
