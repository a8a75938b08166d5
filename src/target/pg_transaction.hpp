// One transaction around a piece of work, for the writers that commit several statements together.
#pragma once

#include "target/pg_connection.hpp"

namespace c2p {

// BEGIN, fn(), COMMIT; on any exception a quiet ROLLBACK, then the exception goes on.
template <class Fn> void in_transaction(PgConnection &pg, Fn &&fn) {
    pg.exec("BEGIN");
    try {
        fn();
        pg.exec("COMMIT");
    } catch (...) {
        pg.rollback_quietly();
        throw;
    }
}

} // namespace c2p
