# Project-wide warning set; RERANKD_WERROR (default ON) turns them into errors.
function(rerankd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wcast-align -Wunused -Wimplicit-fallthrough)
  if(RERANKD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
