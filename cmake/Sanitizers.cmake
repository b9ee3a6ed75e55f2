# RERANKD_SANITIZE=address -> ASan + UBSan; RERANKD_SANITIZE=thread -> TSan. Applied to every target.
# GCC 12 with ASan's instrumentation sees Asio's coroutine frames (allocated by the awaitable
# frame's operator new, freed by its sized operator delete) as a new/delete mismatch; the release
# build, without ASan, does not. A false positive, silenced for sanitizer builds only.
if(RERANKD_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-mismatched-new-delete>)
endif()
if(RERANKD_SANITIZE STREQUAL "address")
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined;-fno-omit-frame-pointer;-fno-sanitize-recover=undefined>")
  add_link_options(-fsanitize=address,undefined)
elseif(RERANKD_SANITIZE STREQUAL "thread")
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=thread;-fno-omit-frame-pointer>")
  # Asio's timer queue uses std::atomic_thread_fence, which TSan does not model; GCC warns about
  # every such use. A report TSan makes there would need checking by hand; none has appeared.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-tsan>)
  endif()
  add_link_options(-fsanitize=thread)
elseif(NOT RERANKD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "RERANKD_SANITIZE must be '', 'address' or 'thread', not '${RERANKD_SANITIZE}'")
endif()
