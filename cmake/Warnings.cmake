# Project-wide warning set; RERANKD_WERROR (default ON) turns them into errors. CUDA sources get
# the host compiler's warnings through nvcc, and nvcc's own warnings as errors.
function(rerankd_set_warnings target)
  set(flags -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Wimplicit-fallthrough)
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${flags}>"
                                           "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>")
  if(RERANKD_WERROR)
    target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:-Werror>"
                                             "$<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>")
  endif()
endfunction()
