package sqlite_test

import (
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

func TestConformance(t *testing.T) { storetest.Exercise(t, storetest.SQLite.Store) }

func TestMigrations(t *testing.T) { storetest.ExerciseMigrations(t, storetest.SQLite) }
