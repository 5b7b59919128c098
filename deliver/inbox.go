package deliver

import (
	"context"
	"time"

	"github.com/lobby-dev/lobby"
)

// DefaultRecheck is how often a waiting inbox poll looks for leases that have lapsed.
const DefaultRecheck = time.Second

// Inbox hands out a polling consultant's events: it leases what waits, long-polls for
// more (woken by lobby.InboxReady, rechecking for lapsed leases), and builds the body
// of each event handed out for the first time.
type Inbox struct {
	Deliveries lobby.DeliveryService
	Events     lobby.EventService
	Payloads   *Events
	// Recheck is how often a waiting poll looks for lapsed leases; 0 means DefaultRecheck.
	Recheck time.Duration
}

// Lease leases up to limit of the consultant's events, waiting up to wait for one to
// arrive; it returns none when the wait or ctx ends first.
func (in *Inbox) Lease(ctx context.Context, c *lobby.Consultant, limit int, wait time.Duration) ([]*lobby.Delivery, error) {
	// The lease itself is not cut short by the wait's end: it is quick, and a lease
	// made is then handed out.
	lctx := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var woken chan struct{}
	if wait > 0 {
		woken = make(chan struct{}, 1)
		feed := in.Events.Subscribe(ctx, lobby.InboxTopic(c.ID), func() {
			select {
			case woken <- struct{}{}:
			default:
			}
		})
		defer feed.Cancel()
	}
	recheck := in.Recheck
	if recheck <= 0 {
		recheck = DefaultRecheck
	}
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	for {
		// Leasing after subscribing closes the gap in which an event could slip by.
		ds, err := in.Deliveries.LeaseInbox(lctx, c.ID, limit, lobby.InboxLease)
		if err == nil && len(ds) > 0 {
			ds, err = in.fixPayloads(lctx, c, ds)
		}
		if err != nil || len(ds) > 0 || wait == 0 {
			return ds, err
		}
		// A nudge, a dropped subscription (the ticker goes on) or the recheck.
		select {
		case <-woken:
		case <-tick.C:
		case <-ctx.Done():
			return ds, nil
		}
	}
}

// fixPayloads builds the bodies of events handed out for the first time, and returns
// the events still there: one whose conversation was deleted since its lease is left
// out. It runs outside the lease's transaction, whose connection the reads must not
// wait behind.
func (in *Inbox) fixPayloads(ctx context.Context, c *lobby.Consultant, ds []*lobby.Delivery) ([]*lobby.Delivery, error) {
	kept := ds[:0]
	for _, d := range ds {
		var err error
		if d.Payload == "" {
			var p string
			if p, err = in.Payloads.Payload(ctx, c, d); err == nil {
				d.Payload, err = in.Deliveries.SetPayload(ctx, d.ID, p)
			}
		}
		switch lobby.ErrorCode(err) {
		case "":
			kept = append(kept, d)
		case lobby.ENOTFOUND:
		default:
			return nil, err
		}
	}
	return kept, nil
}
