package imap

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestIndexFold(t *testing.T) {
	cases := []struct {
		h, n string
		want int
	}{
		{"hello world", "world", 6},
		{"Hello WORLD", "world", 6},
		{"HeLLo", "hello", 0},
		{"abc", "abcd", -1},
		{"", "a", -1},
		{"abc", "", 0},
		{"xxxxWoRdXX", "word", 4},
		{"wor", "word", -1},
		{"a-b", "a-b", 0},
		{"zzzZZz", "zz", 0},
		{"Grüße", "grüße", 0},
		{"GRÜSSE", "grüsse", -1},
	}
	for _, c := range cases {
		if got := indexFold([]byte(c.h), lowerASCII(c.n)); got != c.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", c.h, c.n, got, c.want)
		}
	}
	// Against a reference on random text of mixed case.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		h := make([]byte, r.IntN(200))
		for j := range h {
			h[j] = "abcABC -"[r.IntN(8)]
		}
		n := make([]byte, 1+r.IntN(4))
		for j := range n {
			n[j] = "abcAB-"[r.IntN(6)]
		}
		want := bytes.Index(bytes.ToLower(h), bytes.ToLower(n))
		if got := indexFold(h, lowerASCII(string(n))); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", h, n, got, want)
		}
	}
	if !containsFoldString("ÄRGER im Büro", []byte("ärger")) {
		t.Error("non-ASCII fold")
	}
	if containsFoldString(strings.Repeat("x", 10), []byte("y")) {
		t.Error("false match")
	}
}
