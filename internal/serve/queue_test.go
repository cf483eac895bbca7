package serve

import "testing"

func TestDeliveryPort(t *testing.T) {
	for _, c := range []struct {
		in, want int
		ok       bool
	}{{0, 25, true}, {2525, 2525, true}, {65535, 65535, true}, {-1, 0, false}, {65536, 0, false}} {
		got, err := deliveryPort(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("deliveryPort(%d) = %d, %v; want %d (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}
