# cmake -DOUT=file.cpp -DNAMESPACE=ns -DINPUTS="name=file|name=file" -P embed_text.cmake
# Writes OUT defining `extern const char* const <name>` for each input, the
# file's text as a raw string literal, so the page's HTML, CSS and JS stay
# ordinary files in the source tree.
set(delimiter "distill_embed")
set(text "// Generated from the files named below by embed_text.cmake: edit those.\nnamespace ${NAMESPACE} {\n")
string(REPLACE "|" ";" inputs "${INPUTS}")
foreach(pair IN LISTS inputs)
  string(REPLACE "=" ";" parts "${pair}")
  list(GET parts 0 name)
  list(GET parts 1 file)
  file(READ "${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter )${delimiter}\"")
  endif()
  string(APPEND text "// ${file}\nextern const char* const ${name};\nconst char* const ${name} = R\"${delimiter}(${content})${delimiter}\";\n")
endforeach()
string(APPEND text "}  // namespace ${NAMESPACE}\n")
file(WRITE "${OUT}.tmp" "${text}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
