package serve

import (
	"bufio"
	"bytes"
	"testing"
	"time"
)

// TestHeartbeatFrames: while a command runs, the client waiting at most
// idle gets an empty 'k' frame about every idle/3; none after stop.
func TestHeartbeatFrames(t *testing.T) {
	var buf bytes.Buffer
	out := &lockedWriter{w: bufio.NewWriter(&buf)}
	stop := heartbeat(out, 60*time.Millisecond)
	time.Sleep(250 * time.Millisecond)
	stop()
	out.Flush()
	n := buf.Len()
	time.Sleep(60 * time.Millisecond)
	out.Flush()
	if buf.Len() != n {
		t.Fatal("heartbeats went on after stop")
	}
	frames := bytes.Count(buf.Bytes(), []byte{'k', 0, 0, 0, 0})
	if frames < 3 || frames*5 != n {
		t.Fatalf("%d heartbeat frames in %d bytes over 250ms with idle 60ms; want about 12, nothing else", frames, n)
	}
	if heartbeat(out, 0)(); buf.Len() != n {
		t.Fatal("idle 0 sent heartbeats")
	}
}
