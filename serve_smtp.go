package main

import "context"

// startSMTP starts this service and registers its shutdown with srv.onStop.
// (Not built yet.)
func (srv *server) startSMTP(ctx context.Context) error { return nil }
