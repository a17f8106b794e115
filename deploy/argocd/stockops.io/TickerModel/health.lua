-- Argo CD health of a stockops.io resource (ParentModel, TickerModel and Analysis share this script).
-- Precedence: Suspended > Degraded > Progressing > Healthy; anything else is Unknown.
-- Argo CD runs it in gopher-lua (Lua 5.1) with only the base, table, package and a safe os library
-- open: no string library (and so no string methods), no math. Every field may be missing.
local function tbl(value)
  if type(value) == "table" then
    return value
  end
  return {}
end

local function text(value)
  if type(value) == "string" and value ~= "" then
    return value
  end
  return nil
end

local metadata = tbl(obj.metadata)
local spec = tbl(obj.spec)
local status = tbl(obj.status)
local phase = text(status.phase)

local conditions = {}
for _, c in ipairs(tbl(status.conditions)) do
  if type(c) == "table" and text(c.type) ~= nil then
    conditions[c.type] = c
  end
end

local function message(c, fallback)
  if c ~= nil and text(c.message) ~= nil then
    return c.message
  end
  return fallback
end

local function result(health, msg)
  return { status = health, message = msg }
end

local ready = conditions["Ready"]
local trained = conditions["Trained"]

-- Suspended: spec.suspend stops new trainings, whatever the operator has written so far.
if phase == "Suspended" then
  return result("Suspended", message(ready, "Suspended"))
end
if spec.suspend == true then
  return result("Suspended", "spec.suspend is true; no new training starts")
end

-- Degraded: the resource failed, its latest training failed (an earlier version may still serve),
-- a Degraded/Drifted condition holds, or an Analysis cannot be answered as it stands (Answered False,
-- e.g. its agent pod waits for a Secret key that is missing).
if phase == "Failed" then
  return result("Degraded", message(ready, message(trained, "Failed")))
end
if trained ~= nil and trained.status == "False" and trained.reason == "LatestTrainingFailed" then
  return result("Degraded", message(trained, "the latest training failed"))
end
for _, kind in ipairs({ "Degraded", "Drifted" }) do
  local c = conditions[kind]
  if c ~= nil and c.status == "True" then
    return result("Degraded", message(c, kind))
  end
end
local answered = conditions["Answered"]
if answered ~= nil and answered.status == "False" then
  return result("Degraded", message(answered, "the analysis cannot be answered"))
end

-- Progressing: the operator has not seen this generation yet, or the resource waits, trains, deploys
-- or (an Analysis) runs its agent.
local generation = metadata.generation
local observed = status.observedGeneration
if phase == nil then
  return result("Progressing", "waiting for the operator to write a status")
end
if type(generation) == "number" and (type(observed) ~= "number" or observed < generation) then
  local seen = "none"
  if type(observed) == "number" then
    seen = tostring(observed)
  end
  return result(
    "Progressing",
    "the operator has not observed generation " .. tostring(generation) .. " yet (status is for " .. seen .. ")"
  )
end
if phase == "Pending" or phase == "WaitingForParent" or phase == "Training" or phase == "Deploying"
  or phase == "Running" then
  return result("Progressing", message(ready, phase))
end

if phase == "Ready" then
  return result("Healthy", message(ready, "Ready"))
end
return result("Unknown", "unknown phase " .. phase)
