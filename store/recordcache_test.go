package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
)

// TestRecordCache: a second read of an unchanged record comes from the
// cache, and any change of the stored bytes — through UpdateUser, a raw
// write by another code path, or a removal — is seen at the next read.
func TestRecordCache(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	if _, err := st.AddUser("john@doe.com", "Usr-pass-k9W!q"); err != nil {
		t.Fatal(err)
	}
	st.UpdateUser("john@doe.com", func(u *User) error { u.Quota = 100; return nil })
	if u, err := st.GetUser("john@doe.com"); err != nil || u.Quota != 100 {
		t.Fatalf("first read %+v %v", u, err)
	}

	// Poison the cached value while keeping its bytes: a read that
	// returns the poison came from the cache.
	k := recordKey{recordUser, "john@doe.com"}
	st.records.mu.Lock()
	e := st.records.m[k]
	poisoned := e.v.(User)
	poisoned.Quota = 7
	st.records.m[k] = cachedRecord{raw: e.raw, v: poisoned}
	st.records.mu.Unlock()
	if u, _ := st.GetUser("john@doe.com"); u.Quota != 7 {
		t.Fatalf("unchanged record decoded again (quota %d), not served from the cache", u.Quota)
	}

	// A change through the normal path.
	st.UpdateUser("john@doe.com", func(u *User) error { u.Quota = 200; return nil })
	if u, _ := st.GetUser("john@doe.com"); u.Quota != 200 {
		t.Fatalf("after UpdateUser quota %d, want 200", u.Quota)
	}
	// A raw write that knows nothing of the cache.
	st.db.Update(func(tx kv.Tx) error {
		return putJSON(tx.Bucket(bucketUsers), "john@doe.com", User{Address: "john@doe.com", Quota: 300})
	})
	if u, _ := st.GetUser("john@doe.com"); u.Quota != 300 {
		t.Fatalf("after a raw write quota %d, want 300", u.Quota)
	}
	if st.quotaTxView("john@doe.com") != 300 {
		t.Fatal("quota read in a transaction is stale")
	}
	// Domains: the limits the send caps read.
	st.UpdateDomain("doe.com", func(d *Domain) error { d.Limits.PerHour = 5; return nil })
	if l := st.LimitsFor(Principal{Kind: KindDomain, Domain: "doe.com"}); l.PerHour != 5 {
		t.Fatalf("domain limits %+v", l)
	}
	st.UpdateDomain("doe.com", func(d *Domain) error { d.Limits.PerHour = 6; return nil })
	if l := st.LimitsFor(Principal{Kind: KindDomain, Domain: "doe.com"}); l.PerHour != 6 {
		t.Fatalf("domain limits after change %+v", l)
	}
	// Removal.
	if err := st.RemoveUser("john@doe.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetUser("john@doe.com"); err == nil {
		t.Fatal("removed user still read")
	}
}

// TestRecordCacheConcurrent reads and changes records from many
// goroutines (run under -race): every read sees a value some write stored.
func TestRecordCacheConcurrent(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	for i := 0; i < 4; i++ {
		if _, err := st.AddUser(fmt.Sprintf("u%d@doe.com", i), "Usr-pass-k9W!q"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("u%d@doe.com", g%4)
			for i := 0; i < 50; i++ {
				if g < 4 { // one writer and one reader per user
					st.UpdateUser(addr, func(u *User) error { u.Quota = int64(1000 + i); return nil })
				}
				u, err := st.GetUser(addr)
				if err != nil || u.Address != addr || (u.Quota != 0 && (u.Quota < 1000 || u.Quota >= 1050)) {
					errs <- fmt.Errorf("%s: %+v %v", addr, u, err)
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
	for i := 0; i < 4; i++ {
		if u, _ := st.GetUser(fmt.Sprintf("u%d@doe.com", i)); u.Quota != 1049 {
			t.Fatalf("u%d final quota %d, want 1049", i, u.Quota)
		}
	}
}

func (s *Store) quotaTxView(addr string) (q int64) {
	s.db.View(func(tx kv.Tx) error { q = s.quotaTx(tx, addr); return nil })
	return q
}

func BenchmarkGetUser(b *testing.B) {
	st := authTestStore(b)
	st.AddDomain("doe.com")
	if _, err := st.AddUser("john@doe.com", "Usr-pass-k9W!q"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.GetUser("john@doe.com"); err != nil {
			b.Fatal(err)
		}
	}
}
