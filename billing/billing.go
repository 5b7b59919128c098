// Package billing applies what payment providers report: each signed event, taken into
// the store when it arrived, is applied by a job, so that the webhook answers at once
// and an event about a subscription whose checkout has not arrived yet waits for it.
package billing

import (
	"context"
	"log/slog"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/riverqueue/river"
)

// Applier is the worker of jobs.PaymentEvent.
type Applier struct {
	river.WorkerDefaults[jobs.PaymentEvent]
	Events lobby.PaymentEventService
	Logger *slog.Logger
}

// Work applies the job's event. One about a subscription not known yet is tried again
// by the queue, until its attempts run out.
func (a *Applier) Work(ctx context.Context, job *river.Job[jobs.PaymentEvent]) error {
	outcome, err := a.Events.ApplyPaymentEvent(ctx, job.Args.EventID)
	if err != nil {
		if lobby.ErrorCode(err) == lobby.EUNAVAILABLE && job.Attempt >= job.MaxAttempts {
			a.Logger.Error("payment event given up", "event_id", job.Args.EventID, "attempts", job.Attempt, "err", lobby.ErrorMessage(err))
		}
		return err
	}
	a.Logger.Info("payment event applied", "event_id", job.Args.EventID, "outcome", outcome)
	return nil
}
