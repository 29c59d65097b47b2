// tandem-lb's master-worker mode (-W, -Ws): the master holds the listening sockets and
// replaces its worker on reload without closing them. (Being written; see docs/design.)
#pragma once
