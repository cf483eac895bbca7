package acme

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestReadStatusFollowsMode: without a server, status shows what the last
// server served: after an acme run and then a self-signed run, only the
// self-signed certificate; in files mode, the file's certificate; and a
// missing file as the error.
func TestReadStatusFollowsMode(t *testing.T) {
	t.Parallel()
	host := "readstatus.authsmtp.test"
	dir := t.TempDir()
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, port(r.httpLn), testutil.ClosedPort(t), 0)
	st := openStore(t, dir)
	defer st.Close()
	r.start(t, acmeConfig(p, host), st, true, false)
	r.wait(t, "loaded", host, issueWait)
	r.m.Stop()
	got, err := ReadStatus(st)
	if err != nil || len(got) != 1 || got[0].Source != ModeACME || got[0].Name != host || time.Until(got[0].NotAfter) < 24*time.Hour {
		t.Fatalf("after acme: %+v, %v", got, err)
	}

	ss, err := New(Config{Mode: ModeSelfSigned, Hostname: host, Logger: testLogger(t)}, st)
	if err != nil {
		t.Fatal(err)
	}
	ss.Start(context.Background())
	got, err = ReadStatus(st)
	if err != nil || len(got) != 1 || got[0].Source != ModeSelfSigned || got[0].Issuer != host {
		t.Fatalf("after self-signed: %+v, %v", got, err)
	}

	certFile, keyFile, leaf := writePair(t, t.TempDir(), host)
	fm, err := New(Config{Mode: ModeFiles, Hostname: host, CertFile: certFile, KeyFile: keyFile, Logger: testLogger(t)}, st)
	if err != nil {
		t.Fatal(err)
	}
	fm.Start(context.Background())
	got, err = ReadStatus(st)
	if err != nil || len(got) != 1 || got[0].Source != ModeFiles || !got[0].NotAfter.Equal(leaf.NotAfter) {
		t.Fatalf("after files: %+v, %v", got, err)
	}
	os.Remove(certFile)
	if got, _ = ReadStatus(st); len(got) != 1 || !contains(got[0].LastError, "no such file") {
		t.Fatalf("files mode with the file gone: %+v", got)
	}
}
