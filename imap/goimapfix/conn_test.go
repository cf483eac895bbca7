package goimapfix

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingConn records each write that reaches the network.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, string(b))
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// TestEndBatchJoinsTaggedAnswer: after EndBatch, untagged answers keep
// gathering and the tagged answer goes out with them in one write; a
// Read flushes what is gathered before it waits for the client.
func TestEndBatchJoinsTaggedAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cc := &countingConn{Conn: server}
	c := NewConn(cc, bufio.NewReader(cc), nil)
	c.Write([]byte("* PREAUTH go-imap's greeting\r\n")) // swallowed
	go io.Copy(io.Discard, client)

	c.Batch(true)
	c.Write([]byte("* 1 FETCH (UID 1 BODY[] {3}\r\n"))
	c.Write([]byte("abc"))
	c.Write([]byte(")\r\n"))
	c.EndBatch()
	c.Write([]byte("* 2 EXISTS\r\n"))
	if w := cc.got(); len(w) != 0 {
		t.Fatalf("sent before the tagged answer: %q", w)
	}
	c.Write([]byte("a1 OK FETCH completed\r\n"))
	want := "* 1 FETCH (UID 1 BODY[] {3}\r\nabc)\r\n* 2 EXISTS\r\na1 OK FETCH completed\r\n"
	if w := cc.got(); len(w) != 1 || w[0] != want {
		t.Fatalf("writes %q, want one: %q", w, want)
	}
	c.Write([]byte("* 3 EXISTS\r\n")) // no batch: sent at once
	if w := cc.got(); len(w) != 2 {
		t.Fatalf("an answer outside a batch was held: %q", w)
	}

	// A Read flushes what a batch left, before waiting for the client.
	c.Batch(true)
	c.Write([]byte("* 4 FETCH (UID 4)\r\n"))
	c.EndBatch()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		c.Read(buf)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(cc.got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if w := cc.got(); len(w) != 3 || !strings.HasPrefix(w[2], "* 4 FETCH") {
		t.Fatalf("a Read did not flush the batch: %q", w)
	}
	client.Write([]byte("a2 NOOP\r\n"))
	<-done
}
