# Warnings for our own targets; third-party code (asio, llhttp) is built without them.
set(TANDEM_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(TANDEM_WERROR)
  list(APPEND TANDEM_WARNINGS -Werror)
endif()

function(tandem_target_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${TANDEM_WARNINGS}>)
endfunction()
