package mx

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// writeCountingDB counts the write transactions the store asks for.
type writeCountingDB struct {
	kv.DB
	writes atomic.Int64
}

func (d *writeCountingDB) Update(fn func(kv.Tx) error) error {
	d.writes.Add(1)
	return d.DB.Update(fn)
}

func (d *writeCountingDB) Batch(fn func(kv.Tx) error) error {
	d.writes.Add(1)
	return d.DB.Batch(fn)
}

// A stranger on port 25 cannot make us write to disk once per
// connection: 1,000 connections from a blocklisted address cost at most
// a couple of writes (the counts are written together, at most once a
// minute and at close), and the counts are all there after a restart.
func TestDNSListedConnectionsDoNotWriteEach(t *testing.T) {
	const conns = 1000
	dir := t.TempDir()
	bdb, err := boltkv.Open(filepath.Join(dir, store.DBFile), &boltkv.Options{NoSync: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db := &writeCountingDB{DB: bdb}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenDB(db, dir, store.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.AddDomain("a.test")
	if _, err := st.AddUser("alice@a.test", "password-123"); err != nil {
		t.Fatal(err)
	}
	bl, _ := ParseDNSBL("bl.test")
	e := newMXOn(t, st, func(cfg *Config) { cfg.DNSBL = bl })
	e.dns.Add(t, "1.0.0.127.bl.test. 60 IN A 127.0.0.2")

	before := db.writes.Load()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	next := atomic.Int64{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= conns {
				if err := listedConnection(e.addr); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := db.writes.Load() - before; n > 2 {
		t.Errorf("%d listed connections made %d store writes, want at most 2", conns, n)
	}
	if hits := e.srv.DNSListHits(); hits["bl.test"] != conns {
		t.Errorf("before the restart: %d hits counted, want %d", hits["bl.test"], conns)
	}

	e.srv.Close()
	st.Close()
	if n := db.writes.Load() - before; n > 2 {
		t.Errorf("with the close, %d listed connections made %d store writes, want at most 2", conns, n)
	}
	st2, err := store.Open(dir, store.Options{Logger: discard, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if hits, err := st2.DNSListHits(1); err != nil || hits["bl.test"] != conns {
		t.Errorf("after the restart: DNSListHits = %v, %v; want %d for bl.test", hits, err, conns)
	}
	if days, err := st2.SpamStats("a.test", 1); err != nil || days[0].Refused != conns {
		t.Errorf("after the restart: SpamStats = %+v, %v; want %d refused", days, err, conns)
	}
}

// listedConnection is one client the blocklist refuses at RCPT.
func listedConnection(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	step := func(cmd string, want int) error {
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				return err
			}
		}
		if _, msg, err := tp.ReadResponse(want); err != nil {
			return fmt.Errorf("%q: %v %s", cmd, err, msg)
		}
		return nil
	}
	for _, s := range []struct {
		cmd  string
		want int
	}{{"", 220}, {"EHLO client.test", 250}, {"MAIL FROM:<x@sender.test>", 250}, {"RCPT TO:<alice@a.test>", 554}, {"QUIT", 221}} {
		if err := step(s.cmd, s.want); err != nil {
			return err
		}
	}
	return nil
}
