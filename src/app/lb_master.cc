#include "app/lb_master.h"
