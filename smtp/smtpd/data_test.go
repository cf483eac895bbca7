package smtpd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadData(t *testing.T) {
	msg := strings.Repeat("line of text\r\n", 200000) // 2.8 MB: several chunks
	spool := t.TempDir()
	for _, o := range []DataOptions{{}, {SizeHint: int64(len(msg))}, {SizeHint: 100}, {SpoolDir: spool}, {SpoolDir: spool, SizeHint: int64(len(msg))}} {
		hint := o.SizeHint
		b := NewBudget(10 << 20)
		o.Budget = b
		d, err := ReadData(iotest.HalfReader(strings.NewReader(msg)), o)
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Bytes()) != msg || b.Used() != int64(len(msg)) {
			t.Fatalf("hint %d: read %d bytes, budget %d", hint, d.Len(), b.Used())
		}
		// Stamping in the headroom does not copy the message.
		p := &d.Bytes()[len(d.Bytes())-1]
		d.Prepend([]byte("Received: x\r\n"))
		d.ReplaceHead(len("Received: x\r\n"), []byte("Received: yy\r\n"))
		if !strings.HasPrefix(string(d.Bytes()), "Received: yy\r\nline") || &d.Bytes()[len(d.Bytes())-1] != p {
			t.Fatalf("hint %d: prepend copied or broke the message", hint)
		}
		if spooled := d.spool != nil; spooled != (o.SpoolDir != "") {
			t.Fatalf("spooled %v with %+v", spooled, o)
		}
		d.Release()
		d.Release()
		if b.Used() != 0 {
			t.Fatalf("budget after release: %d", b.Used())
		}
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("spool files left: %v", left)
	}
	// More than the headroom: one copy, same content.
	d := NewData([]byte("body"))
	d.Prepend(bytes.Repeat([]byte("h"), Headroom+1))
	if d.Len() != Headroom+5 || !strings.HasSuffix(string(d.Bytes()), "hbody") {
		t.Fatalf("big prepend: %d", d.Len())
	}
}

func TestReadDataBudget(t *testing.T) {
	b := NewBudget(1 << 20)
	if !b.Take(1<<20 - 100) {
		t.Fatal("take")
	}
	r := strings.NewReader(strings.Repeat("x", 1<<20))
	if _, err := ReadData(r, DataOptions{Budget: b, SpoolDir: t.TempDir()}); !errors.Is(err, ErrBusy) {
		t.Fatalf("over budget: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left unread: the session would be out of step", r.Len())
	}
	if b.Used() != 1<<20-100 || b.Fits(200) || !b.Fits(100) {
		t.Fatalf("budget %d after a refusal", b.Used())
	}
	b.Release(1<<20 - 100)
	broken := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := ReadData(broken, DataOptions{Budget: b}); !errors.Is(err, io.ErrUnexpectedEOF) || b.Used() != 0 {
		t.Fatalf("read error %v, budget %d", err, b.Used())
	}
}
