# Files compiled into the binary (the OpenAPI document, the page at /), so that the server never
# looks for them on disk at run time.
#
#   rerankd_embed(TARGET FUNCTION FILE): adds to TARGET a generated source defining
#   `std::string_view rerankd::server::assets::FUNCTION()` that returns FILE's bytes; the function is
#   declared in src/server/assets.h. Regenerated whenever FILE changes.
#
# Run as a script (cmake -DINPUT=... -DOUTPUT=... -DFUNCTION=... -P Embed.cmake) it writes that source.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ ${INPUT} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # A terminating zero keeps the array non-empty for an empty file; it is not part of the view.
  file(WRITE ${OUTPUT}.tmp
       "// Generated from ${INPUT} by cmake/Embed.cmake: edit that file, not this one.\n"
       "#include \"server/assets.h\"\n\n"
       "namespace rerankd::server::assets {\n"
       "namespace {\nconst unsigned char kBytes[] = {${bytes}0};\n}  // namespace\n\n"
       "std::string_view ${FUNCTION}() { return {reinterpret_cast<const char*>(kBytes), sizeof kBytes - 1}; }\n\n"
       "}  // namespace rerankd::server::assets\n")
  file(RENAME ${OUTPUT}.tmp ${OUTPUT})
  return()
endif()

set(RERANKD_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_FILE})

function(rerankd_embed target function file)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/assets/${function}.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${file} -DOUTPUT=${output} -DFUNCTION=${function} -P ${RERANKD_EMBED_SCRIPT}
    DEPENDS ${file} ${RERANKD_EMBED_SCRIPT}
    COMMENT "Embedding ${file}"
    VERBATIM)
  target_sources(${target} PRIVATE ${output})
endfunction()
