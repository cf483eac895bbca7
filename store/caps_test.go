package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSendCaps(t *testing.T) {
	c := newSendCaps()
	c.SetDefaults(SendLimits{PerHour: 3, PerDay: 5, RcptsPerDay: 10})
	for i := 0; i < 3; i++ {
		if err := c.Take("doe.com", SendLimits{}, 1); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	err := c.Take("doe.com", SendLimits{}, 1)
	var ce *CapError
	if !errors.As(err, &ce) || ce.Limit != "messages per hour" || ce.Max != 3 || time.Until(ce.Reset) > time.Hour || time.Until(ce.Reset) < 59*time.Minute {
		t.Fatalf("over the hourly cap: %v", err)
	}
	if !strings.Contains(err.Error(), "send limit reached for doe.com: 3 messages per hour; resets at ") {
		t.Fatalf("text: %q", err)
	}
	// Each login has its own counter: a user of the domain is not affected.
	if err := c.Take("john@doe.com", SendLimits{}, 1); err != nil {
		t.Fatal(err)
	}
	// A login's own limits win over the defaults.
	if err := c.Take("doe.com", SendLimits{PerHour: 10}, 1); err != nil {
		t.Fatalf("raised per-login cap: %v", err)
	}
	err = c.Take("bulk@doe.com", SendLimits{PerHour: 100}, 11)
	if !errors.As(err, &ce) || ce.Limit != "recipients per day" {
		t.Fatalf("recipients cap: %v", err)
	}
	// A refused message is not counted.
	if err := c.Take("bulk@doe.com", SendLimits{PerHour: 100}, 10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1)
	}
	c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1)
	if err := c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1); !errors.As(err, &ce) || ce.Limit != "messages per day" {
		t.Fatalf("daily cap: %v", err)
	}
}

func TestLimitsFor(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.UpdateDomain("doe.com", func(d *Domain) error { d.Limits.PerHour = 7; return nil })
	st.UpdateUser("john@doe.com", func(u *User) error { u.Limits.PerDay = 9; return nil })
	if l := st.LimitsFor(Principal{Kind: KindDomain, Domain: "doe.com"}); l.PerHour != 7 {
		t.Fatalf("domain limits %+v", l)
	}
	if l := st.LimitsFor(Principal{Kind: KindUser, Domain: "doe.com", Address: "john@doe.com"}); l.PerDay != 9 || l.PerHour != 0 {
		t.Fatalf("user limits %+v", l)
	}
	if l := st.LimitsFor(Principal{Kind: KindAdmin}); l != (SendLimits{}) {
		t.Fatalf("admin limits %+v", l)
	}
}
