# --init-from: LISTA started from a trained LISTA-CP checkpoint computes the
# same function (W1 = gamma W, W2 = I - gamma W A), so its untrained NMSE
# equals the LISTA-CP run's final NMSE; a mismatched checkpoint is an error.
set(COMMON --layers 2 --matrix none --test-signals none --validation-samples 100 --validate-every 10
           --patience 20 --max-steps-per-stage 40 --quiet)
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${PROGRAM} --model lista-cp ${COMMON} --output ${WORK}/cp
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "lista-cp run failed (${code}):\n${out}\n${err}")
endif()
string(REGEX MATCH "test NMSE at layer 2: lista-cp (-?[0-9.]+) dB" _ "${out}")
set(cp_nmse "${CMAKE_MATCH_1}")
execute_process(COMMAND ${PROGRAM} --model lista ${COMMON} --budget-steps 1 --output ${WORK}/lista
                        --init-from ${WORK}/cp/checkpoint.ckpt
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "lista --init-from failed (${code}):\n${out}\n${err}")
endif()
string(REGEX MATCH "untrained NMSE at layer 2: (-?[0-9.]+) dB" _ "${out}")
set(lista_nmse "${CMAKE_MATCH_1}")
if(cp_nmse STREQUAL "" OR NOT cp_nmse STREQUAL lista_nmse)
  message(FATAL_ERROR "LISTA initialised from LISTA-CP starts at '${lista_nmse}' dB, LISTA-CP ended at '${cp_nmse}' dB")
endif()
execute_process(COMMAND ${PROGRAM} --model lista-ss ${COMMON} --output ${WORK}/ss
                        --init-from ${WORK}/cp/checkpoint.ckpt
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(code EQUAL 0 OR NOT err MATCHES "needs a 'lista-cpss' checkpoint")
  message(FATAL_ERROR "lista-ss from a lista-cp checkpoint should fail naming the mismatch (${code}):\n${err}")
endif()
