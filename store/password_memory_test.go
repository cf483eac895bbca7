package store

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// TestArgonMemoryReturned: once the password-check pool is idle, the 19
// MiB argon2 took for a check goes back to the OS instead of staying in
// the process's resident set until the next collection.
func TestArgonMemoryReturned(t *testing.T) {
	st := mbTestStore(t)
	mbTestUser(t, st, "argon@trim.test")
	// Memory the runtime holds from the OS: all it mapped but what it
	// released.
	held := func() int64 {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := held()
	if _, err := st.Authenticate("argon@trim.test", "Pw-k9W!q-argon@trim.test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for held() > before+8<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("memory held by the runtime: %d MiB before the login, %d MiB 5 s after; want argon2's %d MiB given back",
				before>>20, held()>>20, argonMemory>>10)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentSameLogin: eight connections logging in at once with the
// same credentials run argon2 once (19 MiB), not once per pool slot; a
// wrong password still fails for each of them.
func TestConcurrentSameLogin(t *testing.T) {
	st := mbTestStore(t)
	mbTestUser(t, st, "burst@trim.test")
	login := func(pw string) []error {
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.Authenticate("burst@trim.test", pw)
			}()
		}
		wg.Wait()
		return errs
	}
	for i, err := range login("Pw-k9W!q-burst@trim.test") {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if n := st.auth.pool.hashes.Load(); n != 1 {
		t.Errorf("argon2 ran %d times for 8 identical logins, want 1", n)
	}
	for i, err := range login("wrong-password-1") {
		if err == nil {
			t.Fatalf("wrong password %d accepted", i)
		}
	}
}

// TestArgonGarbageLowersHeapGoal: once a check's argon2 run is over, its
// 19 MiB block no longer props up the heap goal. It was live at the
// collection its allocation set off, so the goal stood near twice that
// until the next collection, and under load the server's other garbage
// piled up to it: the first round of logins peaked 25 MiB over the rest.
func TestArgonGarbageLowersHeapGoal(t *testing.T) {
	st := mbTestStore(t)
	mbTestUser(t, st, "goal@trim.test")
	st.auth.pool.idleAfter = time.Hour // the give-back's collection must not be what lowers it
	goal := func() int64 {
		s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
		metrics.Read(s)
		return int64(s[0].Value.Uint64())
	}
	runtime.GC()
	before := goal()
	if _, err := st.Authenticate("goal@trim.test", "Pw-k9W!q-goal@trim.test"); err != nil {
		t.Fatal(err)
	}
	// 19 MiB live at a collection would have set the goal 38 MiB higher.
	deadline := time.Now().Add(10 * time.Second)
	for goal() > before+16<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("heap goal %d MiB 10 s after the login (%d MiB before): argon2's garbage still counts", goal()>>20, before>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestArgonRunsBounded: many logins of different accounts at once run
// argon2 (19 MiB each) at most pool-size at a time, every one of them.
func TestArgonRunsBounded(t *testing.T) {
	st := mbTestStore(t)
	const n = 12
	for i := range n {
		mbTestUser(t, st, fmt.Sprintf("u%d@many.test", i))
	}
	st.auth.pool.hashes.Store(0)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := fmt.Sprintf("u%d@many.test", i)
			if _, err := st.Authenticate(a, "Pw-k9W!q-"+a); err != nil {
				t.Errorf("login %s: %v", a, err)
			}
		}()
	}
	wg.Wait()
	size := int64(st.auth.pool.size)
	if got := st.auth.pool.hashes.Load(); got != n {
		t.Errorf("argon2 ran %d times for %d different logins, want %d", got, n, n)
	}
	if got := st.auth.pool.maxRunning.Load(); got > size || got < 1 {
		t.Errorf("%d argon2 runs at once, want 1 to the pool's %d", got, size)
	}
}
